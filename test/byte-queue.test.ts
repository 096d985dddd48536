// The queue joins dispatched text and encodes it once, when the runtime takes it; until then it
// counts text by UTF-16 units, which bound its UTF-8 bytes from both sides. These tests hold the
// bounds a stream enforces to the byte with text whose units and bytes differ (2, 3 and 4 bytes a
// character, lone surrogates), at the edges where counting units, or three bytes a unit, would
// decide wrong.
import { describe, expect, test } from "vitest";
import { metrics, ServerSentEvent, type ServerSentEventTarget, sendEvents } from "../src/index.ts";

const bytes = (text: string): number => new TextEncoder().encode(text).byteLength;
/** The frame `dispatchComment(text)` queues. */
const comment = (text: string): string => `: ${text}\n\n`;
/** The opening comment every stream queues first. */
const OPENING = ":\n\n".length;

function open(options: Parameters<typeof sendEvents>[1]) {
  return sendEvents(new Request("http://localhost/"), { keepAlive: false, ...options });
}

async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => {
    settled = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 0));
  return !settled;
}

async function drain(response: Response): Promise<string> {
  return await new Response(response.body).text();
}

describe("the byte queue", () => {
  test.each([
    ["é (2 bytes a unit)", "é"],
    ["€ (3 bytes a unit)", "€"],
    ["😀 (4 bytes for 2 units)", "😀"],
    ["a lone surrogate (3 bytes, as U+FFFD)", "\uD800"],
  ])("bufferedAmount is exact for %s while it waits", async (_, character) => {
    const { response, target } = open({ highWaterMark: 1 << 20, maxBufferedAmount: 1 << 21 });
    let expected = OPENING;
    for (let i = 1; i <= 100; i++) {
      const text = character.repeat(i);
      target.dispatchComment(text);
      expected += bytes(comment(text));
      if (i % 7 === 0) expect(target.bufferedAmount).toBe(expected);
    }
    expect(target.bufferedAmount).toBe(expected);
    void target.close();
    const received = await drain(response);
    expect(bytes(received)).toBe(expected);
    const sent = new TextDecoder().decode(new TextEncoder().encode(character));
    expect(received.startsWith(`:\n\n: ${sent}\n\n`)).toBe(true);
  });

  test("a multi-byte frame that passes maxBufferedAmount by one byte overflows; one that fits exactly does not", async () => {
    // "€" is 3 bytes a unit: counting units would let the frame in, and overflow must be exact.
    const max = 4096;
    const room = max - OPENING;
    const euros = "€".repeat(Math.floor((room - 4) / 3));
    const exact = euros + "x".repeat(room - bytes(comment(euros)));
    expect(bytes(comment(exact))).toBe(room);

    const fits = open({ highWaterMark: 0, maxBufferedAmount: max });
    expect(fits.target.dispatchComment(exact)).toBe(true);
    expect(fits.target.bufferedAmount).toBe(max);
    expect(fits.target.closed).toBe(false);
    void fits.target.close();
    expect(bytes(await drain(fits.response))).toBe(max);

    const over = open({ highWaterMark: 0, maxBufferedAmount: max });
    expect(over.target.dispatchComment(`${exact}x`)).toBe(false);
    expect(over.target.closed).toBe(true);

    // Many small multi-byte frames: exactly the one that crosses the bound is refused.
    const frame = "€".repeat(10);
    const many = open({ highWaterMark: 0, maxBufferedAmount: max });
    let queued = OPENING;
    for (;;) {
      const accepted = many.target.dispatchComment(frame);
      if (queued + bytes(comment(frame)) > max) {
        expect(accepted).toBe(false);
        break;
      }
      expect(accepted).toBe(true);
      queued += bytes(comment(frame));
      expect(many.target.bufferedAmount).toBe(queued);
    }
    expect(many.target.closed).toBe(true);
  });

  test("ready waits exactly when multi-byte text reaches highWaterMark, not when its units do", async () => {
    const highWaterMark = 3000;
    const { response, target } = open({ highWaterMark, maxBufferedAmount: 1 << 20 });
    const reader = response.body!.getReader();
    await reader.read(); // the opening comment; no read is pending after it, so everything queues
    const frame = comment("€".repeat(20)); // 64 bytes, 24 units
    let queued = 0;
    let waitedAt = -1;
    for (let i = 0; i < 200 && waitedAt === -1; i++) {
      target.dispatchComment("€".repeat(20));
      queued += bytes(frame);
      // `ready` is a pending promise exactly from the first frame that reaches the mark.
      const pending = await isPending(target.ready);
      expect(pending).toBe(queued >= highWaterMark);
      if (pending) waitedAt = queued;
    }
    expect(waitedAt).toBeGreaterThanOrEqual(highWaterMark);
    expect(waitedAt).toBeLessThan(highWaterMark + bytes(frame));
    expect(target.bufferedAmount).toBe(waitedAt);
    await reader.cancel();
  });

  test("text and shared frames leave in the order they were dispatched", async () => {
    const { response, target } = open({});
    const expected: string[] = [":\n\n"];
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 0) {
        target.dispatchEvent(new ServerSentEvent("tick", `ü${i}`));
        expected.push(`event: tick\ndata: ü${i}\n\n`);
      } else {
        target.dispatchMessage(`ß${i}`);
        expected.push(`data: ß${i}\n\n`);
      }
    }
    void target.close();
    expect(await drain(response)).toBe(expected.join(""));
  });

  test("the queuedBytes gauge returns to where it was however a stream with text waiting ends", async () => {
    const before = metrics.queuedBytes;
    const ends: ((target: ServerSentEventTarget, response: Response) => Promise<unknown>)[] = [
      async (target, response) => {
        void target.close();
        await drain(response);
      },
      async (_, response) => await response.body!.cancel(),
      async (target) => target.abort(new Error("gone")),
    ];
    for (const end of ends) {
      const { response, target } = open({});
      target.dispatchComment("ünïcödé ".repeat(50));
      target.dispatchMessage("€".repeat(300));
      expect(metrics.queuedBytes).toBeGreaterThan(before);
      await end(target, response);
      expect(target.closed).toBe(true);
      expect(metrics.queuedBytes).toBe(before);
    }
  });
});
