import { getEventListeners } from "node:events";
import { describe, expect, test } from "vitest";
import { ServerSentEvent, type StreamCloseEvent, sendEvents } from "../src/index.ts";
import { delay, parse } from "./helpers/stream.ts";

function open(options: { highWaterMark?: number } = {}) {
  const { response, target } = sendEvents(new Request("http://localhost/"), {
    keepAlive: false,
    ...options,
  });
  const closes: StreamCloseEvent[] = [];
  target.addEventListener("close", (event) => closes.push(event));
  return { response, target, closes };
}

async function readEvents(response: Response) {
  return parse(await response.text()).events.map(({ event, id, data }) => ({ event, id, data }));
}

describe("ServerSentEventTarget.pipeFrom", () => {
  test("pipeFrom sends each item of an async generator as a message, then closes the stream", async () => {
    const { response, target, closes } = open();
    async function* numbers() {
      yield 1;
      yield "two";
      yield { three: 3 };
    }
    const piped = target.pipeFrom(numbers());
    const events = await readEvents(response);
    await piped;
    expect(events).toEqual([
      { event: undefined, id: undefined, data: "1" },
      { event: undefined, id: undefined, data: "two" },
      { event: undefined, id: undefined, data: '{"three":3}' },
    ]);
    expect(closes.map((event) => event.reason)).toEqual(["server"]);
  });

  test("pipeFrom takes the type and id of each event from options", async () => {
    const { response, target } = open();
    const items = [
      { kind: "token", n: 0, text: "Hel" },
      { kind: "token", n: 1, text: "lo" },
      { kind: "done", n: 2, text: "" },
    ];
    async function* source() {
      yield* items;
    }
    const piped = target.pipeFrom(source(), {
      event: (item) => item.kind,
      id: (item, index) => (item.kind === "done" ? undefined : `${item.n}-${index}`),
    });
    const events = await readEvents(response);
    await piped;
    expect(events.map(({ event, id }) => [event, id])).toEqual([
      ["token", "0-0"],
      ["token", "1-1"],
      ["done", undefined],
    ]);
    const fixed = open();
    const again = fixed.target.pipeFrom(source(), { event: "row" });
    expect((await readEvents(fixed.response)).map((event) => event.event)).toEqual([
      "row",
      "row",
      "row",
    ]);
    await again;
  });

  test("pipeFrom sends what map returns and skips undefined", async () => {
    const { response, target } = open();
    async function* source() {
      yield* [1, 2, 3, 4];
    }
    const piped = target.pipeFrom(source(), {
      map: (n, index) =>
        n % 2 === 0 ? new ServerSentEvent("even", { n, index }, { id: n }) : undefined,
    });
    expect(await readEvents(response)).toEqual([
      { event: "even", id: "2", data: '{"n":2,"index":1}' },
      { event: "even", id: "4", data: '{"n":4,"index":3}' },
    ]);
    await piped;
  });

  test("pipeFrom reads a ReadableStream, such as text decoded from bytes", async () => {
    const { response, target } = open();
    const bytes = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("héllo"));
        controller.enqueue(new TextEncoder().encode(" wörld"));
        controller.close();
      },
    });
    const piped = target.pipeFrom(
      bytes.pipeThrough(new TextDecoderStream() as TransformStream<Uint8Array, string>),
    );
    expect((await readEvents(response)).map((event) => event.data).join("")).toBe("héllo wörld");
    await piped;
  });

  test("pipeFrom with preventClose leaves the stream open for the next source", async () => {
    const { response, target, closes } = open();
    async function* source(prefix: string) {
      yield `${prefix}1`;
      yield `${prefix}2`;
    }
    const text = response.text();
    await target.pipeFrom(source("a"), { preventClose: true });
    expect(target.closed).toBe(false);
    await target.pipeFrom(source("b"));
    expect(parse(await text).events.map((event) => event.data)).toEqual(["a1", "a2", "b1", "b2"]);
    expect(closes.map((event) => event.reason)).toEqual(["server"]);
  });

  test("pipeFrom calls return() on the source when the client leaves", async () => {
    const { response, target, closes } = open();
    let yielded = 0;
    let finalized = false;
    async function* endless() {
      try {
        for (;;) {
          yielded++;
          yield yielded;
          await delay(1);
        }
      } finally {
        finalized = true;
      }
    }
    const piped = target.pipeFrom(endless());
    const reader = response.body!.getReader();
    await reader.read();
    await reader.read();
    expect(getEventListeners(target.signal, "abort")).toHaveLength(1);
    await reader.cancel();
    await piped;
    expect(finalized).toBe(true);
    expect(getEventListeners(target.signal, "abort")).toHaveLength(0);
    expect(closes.map((event) => event.reason)).toEqual(["client"]);
    const after = yielded;
    await delay(20);
    expect(yielded).toBe(after);
  });

  test("pipeFrom cancels a ReadableStream source at once when the client leaves while it waits", async () => {
    const { response, target } = open();
    let cancelled: unknown = "not cancelled";
    const source = new ReadableStream<string>({
      start(controller) {
        controller.enqueue("first");
        // ...then nothing for a long time, like a model that is thinking.
      },
      cancel(reason) {
        cancelled = reason;
      },
    });
    const piped = target.pipeFrom(source);
    const reader = response.body!.getReader();
    let text = "";
    while (!text.includes("first")) text += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    await piped;
    expect(cancelled).toBeInstanceOf(DOMException);
    expect(source.locked).toBe(false);
  });

  test("pipeFrom with preventCancel reads the source to its end after the client leaves", async () => {
    const { response, target } = open();
    let finished = false;
    let pulled = 0;
    async function* job() {
      for (let i = 0; i < 20; i++) {
        pulled++;
        yield i;
        await delay(1);
      }
      finished = true;
    }
    const piped = target.pipeFrom(job(), { preventCancel: true });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.read();
    await reader.cancel();
    expect(finished).toBe(false);
    await piped;
    expect(finished).toBe(true);
    expect(pulled).toBe(20);
  });

  test("pipeFrom ends the stream with reason error when the source throws, and never rejects", async () => {
    const { response, target, closes } = open();
    const failure = new Error("database went away");
    async function* failing() {
      yield "row 1";
      throw failure;
    }
    const piped = target.pipeFrom(failing());
    await expect(response.text()).rejects.toThrow();
    await expect(piped).resolves.toBeUndefined();
    expect(closes.map((event) => [event.reason, event.error])).toEqual([["error", failure]]);
  });

  test("pipeFrom ends the stream with reason error on an item that cannot be sent, and cancels the source", async () => {
    const { response, target, closes } = open();
    let finalized = false;
    async function* source() {
      try {
        yield "fine";
        yield undefined;
        yield "never sent";
      } finally {
        finalized = true;
      }
    }
    const piped = target.pipeFrom(source());
    await expect(response.text()).rejects.toThrow();
    await piped;
    expect(finalized).toBe(true);
    expect(closes[0]?.reason).toBe("error");
    expect(closes[0]?.error).toBeInstanceOf(TypeError);
  });

  test("pipeFrom ends the stream at once on an error even when the source's cancel never settles", async () => {
    // A ReadableStream whose cancel hangs (an upstream body that never answers), and an async
    // iterator whose next() rejects and whose return() hangs.
    const hanging = new ReadableStream({
      pull(controller) {
        controller.enqueue("item");
      },
      cancel: () => new Promise<void>(() => {}),
    });
    const failure = new Error("upstream failed");
    const iterator: AsyncIterable<string> = {
      [Symbol.asyncIterator]: () => ({
        next: () => Promise.reject(failure),
        return: () => new Promise<IteratorResult<string>>(() => {}),
      }),
    };
    for (const [source, options] of [
      [hanging, { event: () => "bad\ntype" }],
      [iterator, {}],
    ] as const) {
      const { response, target, closes } = open();
      void target.pipeFrom(source as AsyncIterable<string>, options);
      const body = response.text().then(
        () => "ended",
        () => "failed",
      );
      for (let i = 0; i < 40 && !target.closed; i++) await delay(5);
      const closed = target.closed;
      if (!closed) await target.close();
      expect(closed).toBe(true);
      expect(closes.map((event) => event.reason)).toEqual(["error"]);
      expect(await body).toBe("failed");
    }
  });

  test("pipeFrom pulls no faster than the client reads (awaits ready between items)", async () => {
    const { response, target } = open({ highWaterMark: 1000 });
    let pulled = 0;
    async function* endless() {
      for (;;) {
        pulled++;
        yield "x".repeat(100);
      }
    }
    const piped = target.pipeFrom(endless());
    await delay(30);
    // ~108 bytes an event: the queue fills to the high-water mark and the source waits.
    expect(pulled).toBeGreaterThan(5);
    expect(pulled).toBeLessThan(20);
    expect(target.bufferedAmount).toBeLessThan(1000 + 200);
    const reader = response.body!.getReader();
    await reader.read();
    await delay(30);
    expect(pulled).toBeGreaterThan(10);
    await reader.cancel();
    await piped;
  });

  test("pipeFrom stops pulling the moment close() is called, even while close() waits for a stalled client", async () => {
    const { response, target, closes } = open();
    let pulled = 0;
    let returned = false;
    async function* many() {
      try {
        for (let i = 0; i < 1_000_000; i++) {
          pulled++;
          yield `item ${i}`;
        }
      } finally {
        returned = true;
      }
    }
    let timerAt = -1;
    setTimeout(() => {
      timerAt = pulled;
    }, 5);
    const piped = target.pipeFrom(many());
    await Promise.resolve();
    // The client reads nothing, so close() must wait for what is queued: the stream is closing.
    const closing = target.close();
    await delay(30);
    expect(target.closed).toBe(false);
    expect(pulled).toBeLessThan(5);
    expect(timerAt).toBeGreaterThanOrEqual(0);
    // The client reads: close() completes, the source is cancelled.
    const text = await response.text();
    await closing;
    await piped;
    expect(returned).toBe(true);
    expect(closes.map((event) => event.reason)).toEqual(["server"]);
    // What was sent is what was pulled before close(): nothing pulled after it.
    expect(parse(text).events.map((event) => event.data)).toEqual(
      Array.from({ length: pulled }, (_, i) => `item ${i}`).slice(0, parse(text).events.length),
    );
    expect(parse(text).events.length).toBeGreaterThanOrEqual(pulled - 1);
  });

  test("pipeFrom lets timers run while it skips every item of a ready source", async () => {
    const { response, target } = open();
    let pulled = 0;
    async function* many() {
      for (let i = 0; i < 200_000; i++) {
        pulled++;
        yield i;
      }
    }
    let timerAt = -1;
    setTimeout(() => {
      timerAt = pulled;
    }, 1);
    const text = response.text();
    await target.pipeFrom(many(), { map: () => undefined });
    expect(pulled).toBe(200_000);
    // The timer ran while the pipe was still pulling, not after it.
    expect(timerAt).toBeGreaterThanOrEqual(0);
    expect(timerAt).toBeLessThan(200_000);
    expect(await text).toBe(":\n\n");
  });

  test("pipeFrom stops when its signal aborts, cancelling the source and leaving the stream open", async () => {
    const { response, target } = open();
    const controller = new AbortController();
    let finalized = false;
    async function* endless() {
      try {
        for (let i = 0; ; i++) {
          yield i;
          await delay(1);
        }
      } finally {
        finalized = true;
      }
    }
    const piped = target.pipeFrom(endless(), { signal: controller.signal });
    await delay(10);
    controller.abort();
    await piped;
    expect(finalized).toBe(true);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    expect(getEventListeners(target.signal, "abort")).toHaveLength(0);
    expect(target.closed).toBe(false);
    expect(target.dispatchMessage("still open")).toBe(true);
    await response.body!.cancel();
  });

  test("pipeFrom validates its arguments, naming the value", async () => {
    const { response, target } = open();
    expect(() => target.pipeFrom(42 as never)).toThrow(
      new TypeError(
        "Cannot pipe into event stream: the source must be an AsyncIterable or a ReadableStream, received 42",
      ),
    );
    expect(() => target.pipeFrom([1, 2] as never)).toThrow(/AsyncIterable/);
    const locked = new ReadableStream();
    locked.getReader();
    expect(() => target.pipeFrom(locked)).toThrow(/locked/);
    async function* source() {}
    expect(() => target.pipeFrom(source(), { map: "x" as never })).toThrow(
      /"map" must be a function/,
    );
    expect(() => target.pipeFrom(source(), { event: 1 as never })).toThrow(/"event"/);
    expect(() => target.pipeFrom(source(), { signal: {} as never })).toThrow(/"signal"/);
    expect(target.closed).toBe(false);
    await response.body!.cancel();
    // On an ended stream it does nothing.
    await expect(target.pipeFrom(source())).resolves.toBeUndefined();
  });
});
