import { describe, expect, test } from "vitest";
import { readEvents } from "../../src/client/index.ts";
import { ServerSentEvent, sendEvents } from "../../src/index.ts";
import type { StreamCloseEvent } from "../../src/stream-close-event.ts";

const ENCODER = new TextEncoder();

/** A body that sends `pieces` one by one, then stays open (`open`) or ends. */
function body(pieces: (string | Uint8Array)[], open = false): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream({
    pull(controller) {
      if (i < pieces.length) {
        const piece = pieces[i++]!;
        controller.enqueue(typeof piece === "string" ? ENCODER.encode(piece) : piece);
      } else if (!open) controller.close();
    },
  });
}

async function all(pieces: (string | Uint8Array)[]) {
  const events = [];
  for await (const event of readEvents(body(pieces))) events.push(event);
  return events;
}

function closeReason(target: EventTarget): Promise<string> {
  return new Promise((resolve) =>
    target.addEventListener("close", (event) => resolve((event as StreamCloseEvent).reason), {
      once: true,
    }),
  );
}

describe("readEvents", () => {
  test("readEvents gives type, data, id, lastEventId and retry of each event", async () => {
    expect(await all(["event: a\nid: 1\nretry: 50\ndata: x\n\ndata: y\n\n"])).toEqual([
      { type: "a", data: "x", id: "1", lastEventId: "1", retry: 50 },
      { type: "message", data: "y", id: undefined, lastEventId: "1", retry: undefined },
    ]);
  });

  test("readEvents ends lines on CR, LF and CRLF, a CRLF cut between two chunks counting once", async () => {
    const events = await all(["data: a\r", "\ndata: b\r\ndata: c\rdata: d\n", "\r\n"]);
    expect(events.map((event) => event.data)).toEqual(["a\nb\nc\nd"]);
  });

  test("readEvents dispatches an event ended by a lone CR at a chunk's end without waiting for more", async () => {
    const events = readEvents(body(["data: now\r\r"], true));
    expect((await events.next()).value?.data).toBe("now");
    await events.return?.();
  });

  test("readEvents drops one leading BOM, not a second one", async () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
    expect(await all([bom, "data: 1\n\n"])).toMatchObject([{ data: "1" }]);
    // The second BOM is part of the first line's field name: an unknown field, ignored.
    expect(await all([bom, bom, "data: 1\n\ndata: 2\n\n"])).toMatchObject([{ data: "2" }]);
    // A BOM cut into single bytes is still one BOM.
    expect(
      await all([bom.subarray(0, 1), bom.subarray(1, 2), bom.subarray(2), "data: 3\n\n"]),
    ).toMatchObject([{ data: "3" }]);
  });

  test("readEvents ignores an id with NUL, carries the last id over, and clears it on an empty id", async () => {
    const events = await all(["id: 1\ndata: a\n\nid: 2\0\ndata: b\n\ndata: c\n\nid\ndata: d\n\n"]);
    expect(events.map(({ id, lastEventId }) => [id, lastEventId])).toEqual([
      ["1", "1"],
      [undefined, "1"],
      [undefined, "1"],
      ["", ""],
    ]);
  });

  test("readEvents takes retry only when it is ASCII digits", async () => {
    const retries = ["1a", "-1", "1.5", "", " 5", "1e3", "007"].map(
      (value) => `retry: ${value}\ndata: x\n\n`,
    );
    const events = await all(retries);
    expect(events.map((event) => event.retry)).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
      7,
    ]);
  });

  test("readEvents keeps a value's spaces after the first, data without a colon, and ignores comments and unknown fields", async () => {
    const events = await all([": hi\ndata:  two\nfoo: bar\ndata\ndata:\n\n"]);
    expect(events.map((event) => event.data)).toEqual([" two\n\n"]);
  });

  test("readEvents drops an event the end of the stream cut off", async () => {
    expect(await all(["data: whole\n\ndata: cut"])).toMatchObject([{ data: "whole" }]);
    expect(await all(["data: whole\n\ndata: cut\n"])).toMatchObject([{ data: "whole" }]);
  });

  test("readEvents decodes UTF-8 cut inside a character, and replaces bad bytes", async () => {
    const bytes = ENCODER.encode("data: é🎉\n\n");
    const pieces = [...bytes].map((byte) => new Uint8Array([byte]));
    expect(await all(pieces)).toMatchObject([{ data: "é🎉" }]);
    expect(
      await all([new Uint8Array([0x64, 0x61, 0x74, 0x61, 0x3a, 0xff, 0x0a, 0x0a])]),
    ).toMatchObject([{ data: "\uFFFD" }]);
  });

  test("readEvents reads a handler's response, and cancels the body when the loop ends early", async () => {
    const { response, target } = sendEvents(new Request("http://localhost/"));
    const closed = closeReason(target);
    for (let n = 1; n <= 5; n++) target.dispatchEvent(new ServerSentEvent("n", n, { id: n }));
    const seen = [];
    for await (const event of readEvents<{ n: number }>(response, { parse: { n: "json" } })) {
      seen.push(event.data);
      if (seen.length === 2) break;
    }
    expect(seen).toEqual([1, 2]);
    expect(await closed).toBe("client");
  });

  test("readEvents stops and cancels the body when its signal aborts", async () => {
    const { response, target } = sendEvents(new Request("http://localhost/"));
    const closed = closeReason(target);
    const controller = new AbortController();
    const events = readEvents(response, { signal: controller.signal });
    target.dispatchMessage("one");
    expect((await events.next()).value?.data).toBe("one");
    const pending = events.next();
    controller.abort();
    expect(await pending).toEqual({ done: true, value: undefined });
    expect(await closed).toBe("client");
  });

  test("readEvents throws a TypeError naming the type when its parser fails, and cancels the body", async () => {
    const { response, target } = sendEvents(new Request("http://localhost/"));
    const closed = closeReason(target);
    target.dispatchEvent(new ServerSentEvent("price", "not json"));
    const events = readEvents<{ price: number }>(response, { parse: { price: "json" } });
    await expect(events.next()).rejects.toThrow(
      /Cannot read event "price": its data "not json" does not parse/,
    );
    expect(await closed).toBe("client");
  });

  test("readEvents gives nothing for a response without a body", async () => {
    const events = [];
    for await (const event of readEvents(new Response(null, { status: 204 }))) events.push(event);
    expect(events).toEqual([]);
  });

  test("readEvents rejects what it cannot read with a TypeError naming it", async () => {
    // @ts-expect-error: not a response
    expect(() => readEvents("data: x")).toThrow(
      /expected a Response or a ReadableStream, received "data: x"/,
    );
    const used = new Response("data: x\n\n");
    await used.text();
    expect(() => readEvents(used)).toThrow(/already read/);
    const locked = body([]);
    locked.getReader();
    expect(() => readEvents(locked)).toThrow(/locked/);
    // @ts-expect-error: "xml" is no parser
    expect(() => readEvents(body([]), { parse: { a: "xml" } })).toThrow(
      /"parse.a" must be "json" or a function, received "xml"/,
    );
    // @ts-expect-error: not a signal
    expect(() => readEvents(body([]), { signal: true })).toThrow(TypeError);
  });
});
