// The queue joins dispatched text and encodes it once, when the runtime takes it; until then it
// counts text by UTF-16 units, which bound its UTF-8 bytes from both sides. These tests hold the
// bounds a stream enforces to the byte with text whose units and bytes differ (2, 3 and 4 bytes a
// character, lone surrogates), at the edges where counting units, or three bytes a unit, would
// decide wrong.
import fc from "fast-check";
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

// Any sequence of comments, messages and shared events, of any text (ASCII, multi-byte, astral,
// lone surrogates, long and short), against a model that counts every frame's UTF-8 bytes: the
// queue accepts exactly what fits, reports exactly what it holds, waits exactly at the mark, and
// hands over exactly those bytes in order.
describe("the byte queue, against a model (property)", () => {
  const unit = fc.constantFrom("a", "é", "€", "😀", "\uD800", "\n", "xyz");
  const piece = fc.oneof(
    fc.string({ unit, maxLength: 40 }),
    fc.string({ unit, minLength: 300, maxLength: 1500 }),
    // One character repeated: where units and bytes differ most (three bytes a unit for "€").
    fc
      .tuple(fc.constantFrom("€", "é", "😀", "\uD800"), fc.integer({ min: 1, max: 1500 }))
      .map(([character, count]) => character.repeat(count)),
  );
  const step = fc.oneof(
    fc.record({ kind: fc.constant("comment" as const), text: piece }),
    fc.record({ kind: fc.constant("message" as const), text: piece }),
    fc.record({ kind: fc.constant("event" as const), text: piece }),
    fc.record({ kind: fc.constant("look" as const) }),
  );

  test("bounds, bufferedAmount, ready and the bytes sent agree with the model", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 120 }),
        fc.integer({ min: 0, max: 6000 }),
        fc.integer({ min: 0, max: 9000 }),
        async (steps, highWaterMark, extra) => {
          const maxBufferedAmount = Math.max(highWaterMark, 3) + extra;
          const { response, target } = open({ highWaterMark, maxBufferedAmount });
          const reader = response.body!.getReader();
          const first = await reader.read(); // the opening comment: nothing is read after it
          expect(bytes(new TextDecoder().decode(first.value))).toBe(OPENING);
          const encoder = new TextEncoder();
          let queued = 0;
          let open_ = true;
          const sent: Uint8Array[] = [];
          for (const s of steps) {
            if (s.kind === "look") {
              expect(target.bufferedAmount).toBe(open_ ? queued : 0);
              continue;
            }
            const frame =
              s.kind === "comment"
                ? `: ${s.text.split(/\r\n|\r|\n/).join("\n: ")}\n\n`
                : `${s.kind === "event" ? "event: e\n" : ""}data: ${s.text.split(/\r\n|\r|\n/).join("\ndata: ")}\n\n`;
            const size = encoder.encode(frame).byteLength;
            const accepted =
              s.kind === "comment"
                ? target.dispatchComment(s.text)
                : s.kind === "message"
                  ? target.dispatchMessage(s.text)
                  : target.dispatchEvent(new ServerSentEvent("e", s.text));
            if (!open_) {
              expect(accepted).toBe(false);
              continue;
            }
            if (queued + size > maxBufferedAmount) {
              expect(accepted).toBe(false);
              expect(target.closed).toBe(true);
              open_ = false;
              continue;
            }
            expect(accepted).toBe(true);
            queued += size;
            sent.push(encoder.encode(frame));
            expect(await isPending(target.ready)).toBe(queued >= highWaterMark);
          }
          if (!open_) return;
          expect(target.bufferedAmount).toBe(queued);
          void target.close();
          const chunks: Uint8Array[] = [];
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            chunks.push(value);
          }
          expect(Buffer.concat(chunks)).toEqual(Buffer.concat(sent));
        },
      ),
      { numRuns: 100 },
    );
  }, 60_000);

  test("streams sent the same events in a turn share one joined chunk, and each still gets exactly its own bytes", async () => {
    // The join is kept until the end of the turn: members of a channel would otherwise each join
    // the same frames into the same bytes.
    const a = open({});
    const b = open({});
    const c = open({});
    const events = [1, 2, 3].map((i) => new ServerSentEvent("tick", i));
    for (const event of events) {
      a.target.dispatchEvent(event);
      b.target.dispatchEvent(event);
      c.target.dispatchEvent(event);
    }
    c.target.dispatchComment("c alone");
    const readers = [a, b, c].map(({ response }) => response.body!.getReader());
    const [first, second, third] = await Promise.all(readers.map((reader) => reader.read()));
    const decode = (chunk: Uint8Array | undefined) => new TextDecoder().decode(chunk);
    const shared = ":\n\nevent: tick\ndata: 1\n\nevent: tick\ndata: 2\n\nevent: tick\ndata: 3\n\n";
    expect(decode(first!.value)).toBe(shared);
    expect(decode(second!.value)).toBe(shared);
    expect(decode(third!.value)).toBe(`${shared}: c alone\n\n`);
    expect(second!.value).toBe(first!.value);
    // A later turn joins anew: nothing from the last join is kept.
    for (const { target } of [a, b]) {
      target.dispatchEvent(events[0]!);
      target.dispatchEvent(events[1]!);
    }
    await new Promise((resolve) => setTimeout(resolve, 0));
    const [later] = await Promise.all(readers.slice(0, 2).map((reader) => reader.read()));
    expect(decode(later!.value)).toBe("event: tick\ndata: 1\n\nevent: tick\ndata: 2\n\n");
    for (const reader of readers) await reader.cancel();
  });
});
