import { afterEach, describe, expect, test, vi } from "vitest";
import {
  ServerSentEvent,
  type ServerSentEventTarget,
  StreamCloseEvent,
  sendEvents,
} from "../src/index.ts";
import { delay, once, parse, readUntil } from "./helpers/stream.ts";

const open: { response: Response; target: ServerSentEventTarget }[] = [];
function start(init?: RequestInit | Request, options?: Parameters<typeof sendEvents>[1]) {
  const request = init instanceof Request ? init : new Request("http://localhost/sse", init);
  const result = sendEvents(request, options);
  open.push(result);
  return result;
}
afterEach(async () => {
  // Every test leaves its streams ended; a body nobody read is cancelled as a leaving client would.
  for (const { response, target } of open.splice(0)) {
    if (!target.closed && !response.body!.locked) await response.body!.cancel();
    expect(target.closed).toBe(true);
  }
});

describe("ServerSentEventTarget", () => {
  test("ServerSentEventTarget opens the body with a comment before any event", async () => {
    const { response } = start();
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toBe(":\n\n");
    await reader.cancel();
  });

  test("ServerSentEventTarget sends messages, comments and events in order and close() ends the body", async () => {
    const { response, target } = start();
    expect(target.dispatchMessage({ hello: "world" })).toBe(true);
    expect(target.dispatchComment("debug text")).toBe(true);
    expect(target.dispatchEvent(new ServerSentEvent("ping", "x", { id: 1, retry: 3000 }))).toBe(
      true,
    );
    const closing = target.close();
    expect(await response.text()).toBe(
      ':\n\ndata: {"hello":"world"}\n\n: debug text\n\nevent: ping\nid: 1\nretry: 3000\ndata: x\n\n',
    );
    await closing;
    expect(target.closed).toBe(true);
  });

  test("ServerSentEventTarget fires close once with reason server and aborts its signal", async () => {
    const { response, target } = start();
    const listener = vi.fn();
    target.addEventListener("close", listener);
    const bodyDone = response.text();
    await target.close();
    await target.close();
    await bodyDone;
    expect(listener).toHaveBeenCalledTimes(1);
    const event = listener.mock.calls[0]![0] as StreamCloseEvent;
    expect(event).toBeInstanceOf(StreamCloseEvent);
    expect(event.reason).toBe("server");
    expect(target.signal.aborted).toBe(true);
  });

  test("ServerSentEventTarget close() waits until the queued events are taken by the reader", async () => {
    const { response, target } = start();
    target.dispatchMessage("queued");
    let resolved = false;
    const closing = target.close().then(() => {
      resolved = true;
    });
    await delay(20);
    expect(resolved).toBe(false);
    expect(await response.text()).toBe(":\n\ndata: queued\n\n");
    await closing;
    expect(resolved).toBe(true);
  });

  test("ServerSentEventTarget fires close with reason client when the body is cancelled", async () => {
    const { response, target } = start();
    const closed = once<StreamCloseEvent>(target, "close");
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    expect((await closed).reason).toBe("client");
    expect(target.dispatchMessage("late")).toBe(false);
    expect(target.dispatchComment("late")).toBe(false);
    expect(target.dispatchEvent(new ServerSentEvent("x", "late"))).toBe(false);
  });

  test("ServerSentEventTarget fires close with reason client when the request aborts", async () => {
    const controller = new AbortController();
    const { response, target } = start({ signal: controller.signal }, { keepAlive: false });
    const closed = once<StreamCloseEvent>(target, "close");
    const reader = response.body!.getReader();
    await reader.read();
    controller.abort();
    expect((await closed).reason).toBe("client");
    // The body ends rather than hanging.
    expect((await reader.read()).done).toBe(true);
  });

  test("ServerSentEventTarget fires close on a request that was aborted before sendEvents, after listeners attach", async () => {
    const controller = new AbortController();
    controller.abort();
    const { target } = start({ signal: controller.signal }, { keepAlive: false });
    const event = await once<StreamCloseEvent>(target, "close");
    expect(event.reason).toBe("client");
  });

  test("ServerSentEventTarget reads the request's signal only from the first keep-alive tick on, and still sees an abort from before it", async () => {
    const controller = new AbortController();
    const request = new Request("http://localhost/sse", { signal: controller.signal });
    const reads = vi.fn(() => controller.signal);
    Object.defineProperty(request, "signal", { get: reads });
    // A stream that ends before its first tick never reads it.
    const short = start(request, { keepAlive: 40 });
    const text = short.response.text();
    await delay(0);
    await short.target.close();
    await text;
    await delay(60);
    expect(reads).not.toHaveBeenCalled();
    // A later one reads it once, on its first tick (a quarter of an interval: 100 ms, far from the
    // 5 ms look below even on a loaded machine), and closes on an abort that came before.
    const { target } = start(request, { keepAlive: 400 });
    const closed = once<StreamCloseEvent>(target, "close");
    controller.abort();
    await delay(5);
    expect(target.closed).toBe(false);
    expect((await closed).reason).toBe("client");
    expect(reads).toHaveBeenCalledTimes(1);
  });

  test("ServerSentEventTarget removes its listener from the request signal when it closes", async () => {
    const request = new Request("http://localhost/sse");
    const add = vi.spyOn(request.signal, "addEventListener");
    const remove = vi.spyOn(request.signal, "removeEventListener");
    const { response, target } = start(request, { keepAlive: 40 });
    const body = response.text();
    await delay(30); // the first keep-alive tick (every 10 ms) binds the signal
    await target.close();
    await body;
    expect(add).toHaveBeenCalledTimes(1);
    expect(remove).toHaveBeenCalledWith("abort", add.mock.calls[0]![1]);
  });

  test("ServerSentEventTarget raises events on local listeners before sending them", async () => {
    const { response, target } = start();
    const seen: string[] = [];
    target.addEventListener("ping", (event) => seen.push(`${event.type}:${event.data}`));
    target.addEventListener("message", (event) => seen.push(`${event.type}:${event.data}`));
    target.dispatchEvent(new ServerSentEvent("ping", 1));
    target.dispatchMessage("m");
    expect(seen).toEqual(["ping:1", "message:m"]);
    // A third type, the first one again, and one nobody listens to.
    target.addEventListener("pong", (event) => seen.push(`${event.type}:${event.data}`));
    target.addEventListener("ping", () => seen.push("ping again"));
    target.dispatchEvent(new ServerSentEvent("pong", 2));
    target.dispatchEvent(new ServerSentEvent("ping", 3));
    target.dispatchEvent(new ServerSentEvent("other", 4));
    expect(seen).toEqual(["ping:1", "message:m", "pong:2", "ping:3", "ping again"]);
    void target.close();
    expect(parse(await response.text()).events.map((e) => e.data)).toEqual([
      "1",
      "m",
      "2",
      "3",
      "4",
    ]);
  });

  test("ServerSentEventTarget keeps a cancelled event off the wire and returns false", async () => {
    const { response, target } = start();
    target.addEventListener("secret", (event) => {
      if (event.data.includes("hide")) event.preventDefault();
    });
    target.addEventListener("message", (event) => event.preventDefault());
    expect(
      target.dispatchEvent(new ServerSentEvent("secret", "hide me", { cancelable: true })),
    ).toBe(false);
    expect(
      target.dispatchEvent(new ServerSentEvent("secret", "show me", { cancelable: true })),
    ).toBe(true);
    expect(target.dispatchMessage("cancelled", { cancelable: true })).toBe(false);
    // Not cancelable: preventDefault() has no effect, as on any EventTarget.
    expect(target.dispatchMessage("kept")).toBe(true);
    void target.close();
    expect(parse(await response.text()).events.map((e) => e.data)).toEqual(["show me", "kept"]);
  });

  test("ServerSentEventTarget sends an event named close without raising its own close listeners", async () => {
    const { response, target } = start();
    const listener = vi.fn();
    target.addEventListener("close", listener);
    target.dispatchEvent(new ServerSentEvent("close", "bye"));
    expect(listener).not.toHaveBeenCalled();
    void target.close();
    const text = await response.text();
    expect(text).toContain("event: close\ndata: bye\n\n");
    expect(listener).toHaveBeenCalledTimes(1);
  });

  test("ServerSentEventTarget throws at once on bad input and keeps the stream intact", async () => {
    const { response, target } = start();
    expect(() => target.dispatchMessage(undefined)).toThrow(TypeError);
    expect(() => target.dispatchMessage(1n)).toThrow(TypeError);
    expect(() => target.dispatchMessage("x", { id: "a\nb" })).toThrow(TypeError);
    expect(() => target.dispatchMessage("x", { retry: -5 })).toThrow(RangeError);
    expect(() => target.dispatchComment(5 as unknown as string)).toThrow(TypeError);
    target.dispatchMessage("after");
    void target.close();
    expect(await response.text()).toBe(":\n\ndata: after\n\n");
  });

  test("ServerSentEventTarget returns false without throwing after it closed", async () => {
    const { response, target } = start();
    const body = response.text();
    await target.close();
    await body;
    expect(target.dispatchMessage("x")).toBe(false);
    expect(target.dispatchComment("x")).toBe(false);
    expect(target.dispatchEvent(new ServerSentEvent("x", "y"))).toBe(false);
  });

  test("ServerSentEventTarget counts bufferedAmount in bytes and ready waits for the reader", async () => {
    const { response, target } = start(undefined, {
      highWaterMark: 100,
      maxBufferedAmount: 10_000,
    });
    const reader = response.body!.getReader();
    await reader.read(); // the opening comment
    // The next read is not issued yet: everything queues.
    target.dispatchMessage("x".repeat(200));
    expect(target.bufferedAmount).toBe("data: \n\n".length + 200);
    let ready = false;
    const waiting = target.ready.then(() => {
      ready = true;
    });
    await delay(10);
    expect(ready).toBe(false);
    const { value } = await reader.read();
    expect(value!.byteLength).toBe(208);
    await waiting;
    expect(ready).toBe(true);
    expect(target.bufferedAmount).toBe(0);
    await reader.cancel();
  });

  test("ServerSentEventTarget coalesces events queued between reads into one chunk", async () => {
    const { response, target } = start();
    const reader = response.body!.getReader();
    await reader.read();
    for (let i = 0; i < 100; i++) target.dispatchMessage(i);
    const { value } = await reader.read();
    expect(parse(new TextDecoder().decode(value)).events).toHaveLength(100);
    await reader.cancel();
  });

  test("ServerSentEventTarget closes a client that stops reading with reason overflow", async () => {
    const { response, target } = start(undefined, { highWaterMark: 1024, maxBufferedAmount: 4096 });
    const reader = response.body!.getReader();
    await reader.read();
    const closed = once<StreamCloseEvent>(target, "close");
    let sent = 0;
    while (target.dispatchMessage("y".repeat(100))) sent++;
    expect(sent).toBe(Math.floor(4096 / 108));
    expect((await closed).reason).toBe("overflow");
    expect(target.bufferedAmount).toBe(0);
    await expect(reader.read()).rejects.toThrow(/overflow/);
  });

  test("ServerSentEventTarget sends a keep-alive comment on idle streams only", async () => {
    const { response, target } = start(undefined, { keepAlive: 30 });
    const reader = response.body!.getReader();
    let text = await readUntil(reader, (t) => t.length > 0);
    text = await readUntil(reader, (t) => t.split(":\n\n").length > 3, text);
    expect(text.startsWith(":\n\n:\n\n:\n\n")).toBe(true);
    await reader.cancel();
    expect(target.closed).toBe(true);
  });

  test("ServerSentEventTarget notices a reader that is gone on the next keep-alive", async () => {
    // A runtime that only learns of a disconnect when a write fails cancels the body then.
    let cancelOnNextChunk = false;
    const { response, target } = start(undefined, { keepAlive: 20 });
    const closed = once<StreamCloseEvent>(target, "close");
    const sink = new WritableStream<Uint8Array>({
      write() {
        if (cancelOnNextChunk) throw new Error("EPIPE");
      },
    });
    const piping = response.body!.pipeTo(sink).catch(() => undefined);
    await delay(5);
    cancelOnNextChunk = true;
    expect((await closed).reason).toBe("client");
    await piping;
  });

  test("ServerSentEventTarget lets a producer await ready without outrunning the reader", async () => {
    const { response, target } = start(undefined, { highWaterMark: 256, maxBufferedAmount: 1024 });
    const produced = (async () => {
      for (let i = 0; i < 2000; i++) {
        await target.ready;
        if (!target.dispatchMessage(i)) return i;
      }
      await target.close();
      return 2000;
    })();
    const events = parse(await response.text()).events;
    expect(await produced).toBe(2000);
    expect(events.map((e) => Number(e.data))).toEqual(Array.from({ length: 2000 }, (_, i) => i));
  });

  test("ServerSentEventTarget cannot be constructed directly", async () => {
    const { target } = start();
    const Ctor = target.constructor as unknown as new (...args: unknown[]) => unknown;
    expect(() => new Ctor(Symbol("x"), {})).toThrow(TypeError);
  });
});

describe("abort()", () => {
  test("abort(reason) fails the stream at once: the reader sees an error, close fires with reason error and the reason", async () => {
    const { response, target } = start();
    const reader = response.body!.getReader();
    await reader.read();
    target.dispatchMessage("queued, never sent");
    const closed = once<StreamCloseEvent>(target, "close");
    const reason = new Error("upstream failed");
    target.abort(reason);
    const event = await closed;
    expect([event.reason, event.error]).toEqual(["error", reason]);
    expect([target.closed, target.bufferedAmount, target.signal.aborted]).toEqual([true, 0, true]);
    await expect(reader.read()).rejects.toBe(reason);
    expect(target.dispatchMessage("after")).toBe(false);
  });

  test("abort() without a reason gives close an Error that says the server aborted it", async () => {
    const { response, target } = start();
    const closed = once<StreamCloseEvent>(target, "close");
    target.abort();
    const event = await closed;
    expect(event.reason).toBe("error");
    expect(event.error).toBeInstanceOf(Error);
    expect(String(event.error)).toMatch(/aborted by the server/);
    await expect(response.text()).rejects.toThrow(/aborted by the server/);
  });

  test("abort() cuts short a close() still waiting for the reader, and close() resolves", async () => {
    const { target } = start();
    target.dispatchMessage("nobody reads this");
    const closing = target.close();
    const reasons: string[] = [];
    target.addEventListener("close", (event) => reasons.push(event.reason));
    target.abort();
    await closing;
    expect(reasons).toEqual(["error"]);
  });

  test("abort() after the stream ended does nothing: close fires once, with the first reason", async () => {
    const { response, target } = start();
    const reasons: string[] = [];
    target.addEventListener("close", (event) => reasons.push(event.reason));
    void target.close();
    await response.text();
    target.abort(new Error("late"));
    expect(reasons).toEqual(["server"]);
  });
});

describe("a listener that throws", () => {
  test("A throwing listener is reported like any EventTarget listener's error, and the stream carries on", async () => {
    const { execFile } = await import("node:child_process");
    const { pathToFileURL } = await import("node:url");
    const entry = pathToFileURL(`${process.cwd()}/dist/src/index.js`).href;
    const script = `
      import { sendEvents, ServerSentEvent } from ${JSON.stringify(entry)};
      const errors = [];
      process.on("uncaughtException", (error) => errors.push(error.message));
      const { response, target } = sendEvents(new Request("http://localhost/"), { keepAlive: false });
      target.addEventListener("chat", () => { throw new Error("listener broke"); });
      const results = [
        target.dispatchEvent(new ServerSentEvent("chat", "one")),
        target.dispatchEvent(new ServerSentEvent("chat", "two")),
      ];
      void target.close();
      const body = await response.text();
      await new Promise((resolve) => setTimeout(resolve, 10));
      console.log(JSON.stringify({ results, body, errors, closed: target.closed }));
    `;
    const output = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, ["--input-type=module", "-e", script], (error, stdout) =>
        error ? reject(error) : resolve(stdout),
      );
    });
    expect(JSON.parse(output)).toEqual({
      results: [true, true],
      body: ":\n\nevent: chat\ndata: one\n\nevent: chat\ndata: two\n\n",
      errors: ["listener broke", "listener broke"],
      closed: true,
    });
  });
});

describe("footguns", () => {
  test("dispatchEvent throws a TypeError for a plain Event instead of raising it and sending nothing", async () => {
    const { response, target } = sendEvents(new Request("http://localhost/"), { keepAlive: false });
    let heard = 0;
    target.addEventListener("x", () => heard++);
    expect(() => target.dispatchEvent(new Event("x") as never)).toThrow(
      new TypeError(
        'Cannot dispatch event: expected a ServerSentEvent, received Event "x"; send data with new ServerSentEvent(type, data)',
      ),
    );
    expect(() => target.dispatchEvent({ type: "x" } as never)).toThrow(TypeError);
    expect(heard).toBe(0);
    expect(target.closed).toBe(false);
    void target.close();
    expect(await response.text()).toBe(":\n\n");
  });

  test("close({ timeout }) aborts with reason error once nobody has read what is queued in time", async () => {
    const { target } = sendEvents(new Request("http://localhost/"), { keepAlive: false });
    const reasons: string[] = [];
    target.addEventListener("close", (event) => reasons.push(event.reason));
    target.dispatchMessage("never read");
    const started = performance.now();
    await target.close({ timeout: 50 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(45);
    expect(reasons).toEqual(["error"]);
    expect(() => target.close({ timeout: -1 })).toThrow(
      new RangeError(
        'Cannot close stream: "timeout" must be an integer from 0 to 2147483647, received -1',
      ),
    );
  });

  test("close({ timeout }) changes nothing for a client that reads in time", async () => {
    const { response, target } = sendEvents(new Request("http://localhost/"), { keepAlive: false });
    const reasons: string[] = [];
    target.addEventListener("close", (event) => reasons.push(event.reason));
    target.dispatchMessage("read");
    const closing = target.close({ timeout: 5000 });
    expect(await response.text()).toBe(":\n\ndata: read\n\n");
    await closing;
    expect(reasons).toEqual(["server"]);
  });
});

describe("the queue's memory", () => {
  test.each([
    // 4-byte comments: text, joined and encoded in blocks as it waits.
    ["tiny comments", ": \n\n", (target: ServerSentEventTarget) => target.dispatchComment("")],
    // Each event encoded on its own, a Uint8Array of its own (some 200 bytes of objects beside its
    // 17 bytes): the queue keeps a bounded number of them by reference, and copies the rest.
    [
      "tiny ServerSentEvents of its own",
      "event: e\ndata: \n\n",
      (target: ServerSentEventTarget) => target.dispatchEvent(new ServerSentEvent("e", "")),
    ],
  ])(
    "ServerSentEventTarget holds a stalled client's %s in about maxBufferedAmount of memory, not an object per event",
    async (_, frame, send) => {
      const { heldBytes, MB } = await import("./helpers/heap.ts");
      const streams: {
        reader: ReadableStreamDefaultReader<Uint8Array>;
        target: ServerSentEventTarget;
      }[] = [];
      const before = await heldBytes();
      // Four clients that read the opening comment, then stall; each is sent frames until its queue
      // is just under the bound (1 MiB), so none overflows.
      for (let i = 0; i < 4; i++) {
        const { response, target } = start(undefined, { keepAlive: false });
        const reader = response.body!.getReader();
        await reader.read();
        while (target.bufferedAmount + frame.length <= 1024 * 1024) send(target);
        streams.push({ reader, target });
      }
      const held = (await heldBytes()) - before;
      expect(streams.every(({ target }) => !target.closed)).toBe(true);
      // What was queued still arrives intact, in order.
      const { reader, target } = streams[0]!;
      void target.close();
      let text = "";
      const decoder = new TextDecoder();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        text += decoder.decode(value, { stream: true });
      }
      for (const stream of streams.slice(1)) await stream.reader.cancel();
      expect(text).toBe(frame.repeat(Math.floor((1024 * 1024) / frame.length)));
      // 4 MiB counted; allow twice that for block slack and the runtime's own bookkeeping.
      expect(held).toBeLessThan(8 * MB);
    },
  );
});

describe("a payload too large for the queue", () => {
  test("ServerSentEventTarget refuses a comment or event larger than maxBufferedAmount before formatting and encoding it", async () => {
    const { collectGarbage, MB } = await import("./helpers/heap.ts");
    // 8 million line breaks: formatted, one `:` or `data:` line each (an array of 8 million
    // strings), then encoded, that is several hundred MB for an 8 MB payload the bound refuses.
    const payload = "\n".repeat(8_000_000);
    for (const send of [
      (target: ServerSentEventTarget) => target.dispatchComment(payload),
      (target: ServerSentEventTarget) => target.dispatchEvent(new ServerSentEvent("big", payload)),
    ]) {
      const { target } = start(undefined, { keepAlive: false });
      const closes: string[] = [];
      target.addEventListener("close", (event) => closes.push(event.reason));
      await collectGarbage();
      const before = process.memoryUsage();
      expect(send(target)).toBe(false);
      const after = process.memoryUsage();
      // No collection in between: what the call allocated is still counted.
      const grew = after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers;
      expect(closes).toEqual(["overflow"]);
      expect(grew).toBeLessThan(16 * MB);
    }
  });
});

describe("listeners of many types", () => {
  test("ServerSentEventTarget raises events of 15,000 once-listened types, and still hears a type added after them", async () => {
    // Every type's name used to be kept and scanned on every add and dispatch (26 s for 30,000
    // types); past 16 types the target now raises every event on its listeners. What a test can
    // hold without timing it: every listener hears its event, early and late ones alike.
    const { response, target } = start(undefined, { keepAlive: false });
    const reader = response.body!.getReader();
    const reading = (async () => {
      while (!(await reader.read()).done);
    })();
    let heard = 0;
    for (let i = 0; i < 15_000; i++) {
      const type = `ack-${i}`;
      target.addEventListener(type, () => heard++, { once: true });
      target.dispatchEvent(new ServerSentEvent(type, "ok"));
      if (i % 1000 === 0) await delay(0);
    }
    expect(heard).toBe(15_000);
    const late: string[] = [];
    target.addEventListener("late", (event) => late.push((event as ServerSentEvent).data));
    target.dispatchEvent(new ServerSentEvent("late", "heard"));
    target.dispatchEvent(new ServerSentEvent("ack-3", "nobody listens any more"));
    expect(late).toEqual(["heard"]);
    expect(heard).toBe(15_000);
    await target.close();
    await reading;
  });
});
