import { describe, expect, test } from "vitest";
import { DEFAULT_HEADERS, metrics, type StreamCloseEvent, sendEvents } from "../src/index.ts";
import { delay } from "./helpers/stream.ts";

const request = () => new Request("http://localhost/sse");

describe("sendEvents", () => {
  test("sendEvents returns a 200 response with the seed's default headers", async () => {
    const { response } = sendEvents(request());
    expect(response.status).toBe(200);
    expect(Object.fromEntries(response.headers)).toEqual({
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "Keep-Alive",
      "keep-alive": "timeout=9007199254740991",
      "x-accel-buffering": "no",
    });
    expect(DEFAULT_HEADERS["content-type"]).toBe("text/event-stream");
    await response.body!.cancel();
  });

  test("sendEvents gives each response headers of its own: changing one changes no other", async () => {
    const first = sendEvents(request());
    first.response.headers.set("cache-control", "no-store");
    first.response.headers.append("x-extra", "1");
    const second = sendEvents(request());
    expect(second.response.headers.get("cache-control")).toBe("no-cache");
    expect(second.response.headers.has("x-extra")).toBe(false);
    await Promise.all([first.response.body!.cancel(), second.response.body!.cancel()]);
  });

  test("sendEvents adds caller headers and lets them replace the defaults of the same name", async () => {
    const headers = new Headers([
      ["X-Custom-Header", "custom value"],
      ["Cache-Control", "no-store"],
      ["Set-Cookie", "a=1"],
      ["Set-Cookie", "b=2"],
    ]);
    const { response } = sendEvents(request(), { headers });
    expect(response.headers.get("x-custom-header")).toBe("custom value");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.getSetCookie()).toEqual(["a=1", "b=2"]);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    await response.body!.cancel();
  });

  test("sendEvents accepts headers as a record or as pairs", async () => {
    const one = sendEvents(request(), {
      headers: { "Content-Type": "text/event-stream; charset=utf-8" },
    });
    expect(one.response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    const two = sendEvents(request(), { headers: [["x-a", "1"]] });
    expect(two.response.headers.get("x-a")).toBe("1");
    await one.response.body!.cancel();
    await two.response.body!.cancel();
  });

  test("sendEvents reads Last-Event-ID into target.lastEventId", async () => {
    const { response, target } = sendEvents(
      new Request("http://localhost/", { headers: { "Last-Event-ID": "41" } }),
    );
    expect(target.lastEventId).toBe("41");
    await response.body!.cancel();
  });

  test("sendEvents throws a TypeError for something that is not a Request", () => {
    expect(() => sendEvents(undefined as unknown as Request)).toThrow(
      new TypeError("Cannot send events: expected a Request, received undefined"),
    );
    expect(() => sendEvents("http://x" as unknown as Request)).toThrow(TypeError);
  });

  test("sendEvents throws a RangeError naming a bad keepAlive, highWaterMark or maxBufferedAmount", () => {
    expect(() => sendEvents(request(), { keepAlive: 0 })).toThrow(
      new RangeError(
        'Cannot send events: "keepAlive" must be an integer from 1 to 2147483647, or false to send none, received 0',
      ),
    );
    expect(() => sendEvents(request(), { keepAlive: Number.NaN })).toThrow(RangeError);
    expect(() => sendEvents(request(), { highWaterMark: -1 })).toThrow(/"highWaterMark"/);
    expect(() => sendEvents(request(), { highWaterMark: 100, maxBufferedAmount: 50 })).toThrow(
      /"maxBufferedAmount" must be an integer of at least 100, received 50/,
    );
  });

  test("sendEvents rejects timer options past 2**31 - 1 ms instead of firing them after 1 ms", async () => {
    const before = metrics.open;
    for (const keepAlive of [2 ** 31, 2 ** 33, Number.MAX_SAFE_INTEGER]) {
      expect(() => sendEvents(request(), { keepAlive })).toThrow(
        new RangeError(
          `Cannot send events: "keepAlive" must be an integer from 1 to 2147483647, or false to send none, received ${keepAlive}`,
        ),
      );
    }
    expect(() => sendEvents(request(), { maxDuration: 30 * 24 * 3_600_000 })).toThrow(
      new RangeError(
        'Cannot send events: "maxDuration" must be an integer from 1 to 2147483647, received 2592000000',
      ),
    );
    expect(metrics.open).toBe(before);
    // The edge itself is accepted, and does not fire early.
    const { response, target } = sendEvents(request(), {
      keepAlive: 2 ** 31 - 1,
      maxDuration: 2 ** 31 - 1,
    });
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(":\n\n");
    await new Promise((resolve) => setTimeout(resolve, 30));
    expect(target.closed).toBe(false);
    expect(target.bufferedAmount).toBe(0); // no keep-alive fired early either
    await reader.cancel();
  });

  test("sendEvents rejects a maxBufferedAmount too small for the opening comment, naming the minimum", async () => {
    expect(() => sendEvents(request(), { highWaterMark: 0, maxBufferedAmount: 2 })).toThrow(
      new RangeError(
        'Cannot send events: "maxBufferedAmount" must be an integer of at least 3, received 2',
      ),
    );
    const { response, target } = sendEvents(request(), { highWaterMark: 0, maxBufferedAmount: 3 });
    expect(target.closed).toBe(false);
    await response.body!.cancel();
  });

  test("sendEvents throws a TypeError for malformed headers and a waitUntil that is not a function", () => {
    expect(() => sendEvents(request(), { headers: { "bad header": "x" } })).toThrow(TypeError);
    expect(() =>
      sendEvents(request(), { waitUntil: 5 as unknown as (promise: Promise<unknown>) => void }),
    ).toThrow(/"waitUntil" must be a function, received number/);
  });

  test("sendEvents hands the stream's end to waitUntil", async () => {
    const registered: Promise<unknown>[] = [];
    const { response, target } = sendEvents(request(), { waitUntil: (p) => registered.push(p) });
    expect(registered).toHaveLength(1);
    let settled = false;
    void registered[0]!.then(() => {
      settled = true;
    });
    await Promise.resolve();
    expect(settled).toBe(false);
    const body = response.text();
    await target.close();
    await body;
    await registered[0];
    expect(settled).toBe(true);
  });

  test("sendEvents keeps keepAlive false from starting a timer", async () => {
    const { response, target } = sendEvents(request(), { keepAlive: false });
    const reader = response.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toBe(":\n\n");
    const nextRead = reader.read();
    const raced = await Promise.race([
      nextRead,
      new Promise((r) => setTimeout(() => r("idle"), 50)),
    ]);
    expect(raced).toBe("idle");
    await reader.cancel();
    expect(target.closed).toBe(true);
  });
});

describe("a body the runtime cancels", () => {
  test("sendEvents ends the stream with reason client and never closes the cancelled body (which throws)", async () => {
    // Closing a cancelled body throws, and the error's stack trace cost a short stream on the
    // fetch path more than the rest of its end: count the closes that throw.
    const close = ReadableStreamDefaultController.prototype.close;
    let threw = 0;
    ReadableStreamDefaultController.prototype.close = function (
      this: ReadableStreamDefaultController,
    ) {
      try {
        close.call(this);
      } catch (error) {
        threw++;
        throw error;
      }
    };
    try {
      const reasons: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { response, target } = sendEvents(new Request("http://localhost/"));
        target.addEventListener("close", (event) => reasons.push(event.reason));
        target.dispatchMessage("hello");
        const reader = response.body!.getReader();
        await reader.read();
        await reader.cancel();
      }
      expect(reasons).toEqual(["client", "client", "client"]);
      expect(threw).toBe(0);
    } finally {
      ReadableStreamDefaultController.prototype.close = close;
    }
  });
});

describe("one event, many targets", () => {
  test("A listener's preventDefault() on one target does not cancel the event for the next", async () => {
    const { sendEvents, ServerSentEvent } = await import("../src/index.ts");
    const a = sendEvents(new Request("http://localhost/"), { keepAlive: false });
    const b = sendEvents(new Request("http://localhost/"), { keepAlive: false });
    const seen: boolean[] = [];
    a.target.addEventListener("chat", (event) => event.preventDefault());
    b.target.addEventListener("chat", (event) => seen.push(event.defaultPrevented));
    const event = new ServerSentEvent("chat", "hello", { cancelable: true });
    expect(a.target.dispatchEvent(event)).toBe(false);
    expect(b.target.dispatchEvent(event)).toBe(true);
    expect(seen).toEqual([false]);
    void a.target.close();
    void b.target.close();
    expect(await a.response.text()).toBe(":\n\n");
    expect(await b.response.text()).toBe(":\n\nevent: chat\ndata: hello\n\n");
  });

  test("stopImmediatePropagation() in one channel member's listener leaves the others' listeners alone", async () => {
    const { Channel, sendEvents } = await import("../src/index.ts");
    const channel = new Channel("room");
    const heard: string[] = [];
    const streams = ["a", "b", "c"].map((name) => {
      const { response, target } = sendEvents(new Request("http://localhost/"), {
        keepAlive: false,
      });
      target.addEventListener("chat", (event) => {
        heard.push(`${name}1`);
        if (name === "a") event.stopImmediatePropagation();
      });
      target.addEventListener("chat", () => heard.push(`${name}2`));
      void channel.register(target);
      return response;
    });
    await channel.broadcast("hi", { type: "chat" });
    expect(heard).toEqual(["a1", "b1", "b2", "c1", "c2"]);
    await Promise.all(streams.map((response) => response.body!.cancel()));
    expect(channel.size).toBe(0);
  });
});

describe("a response that is never sent", () => {
  test("sendEvents ends the target with reason error once its unsent response is collected", async () => {
    const { collectGarbage } = await import("./helpers/heap.ts");
    const before = metrics.open;
    const closes: StreamCloseEvent[] = [];
    const closed: Promise<void>[] = [];
    // A handler that opens a stream, then answers 401 instead: the stream's response is dropped.
    function handler(request: Request): Response {
      const { target } = sendEvents(request);
      target.addEventListener("close", (event) => closes.push(event));
      target.dispatchMessage("never read");
      closed.push(target.close());
      return new Response("no", { status: 401 });
    }
    for (let i = 0; i < 50; i++) expect(handler(request()).status).toBe(401);
    expect(metrics.open).toBe(before + 50);
    for (let i = 0; i < 20 && closes.length < 50; i++) await collectGarbage();
    expect(closes.length).toBe(50);
    expect(closes.every((event) => event.reason === "error")).toBe(true);
    expect(String(closes[0]!.error)).toContain("its response was never sent");
    await Promise.all(closed); // close() resolves too
    expect(metrics.open).toBe(before);
  });

  for (const [name, options] of [
    ["after its first keep-alive tick", { keepAlive: 40 }],
    ["with keepAlive false", { keepAlive: false }],
  ] as const) {
    test(`sendEvents ends an unsent stream that nobody closes, ${name}`, async () => {
      const { collectGarbage } = await import("./helpers/heap.ts");
      const reasons: string[] = [];
      for (let i = 0; i < 20; i++) {
        const { target } = sendEvents(request(), options);
        target.addEventListener("close", (event) => reasons.push(event.reason));
      }
      await delay(100);
      for (let i = 0; i < 20 && reasons.length < 20; i++) await collectGarbage();
      expect(reasons).toEqual(new Array(20).fill("error"));
    });
  }

  test("sendEvents keeps a stream whose response is held or read, through collections", async () => {
    const { collectGarbage } = await import("./helpers/heap.ts");
    const held = sendEvents(request(), { keepAlive: 40 });
    const read = sendEvents(request(), { keepAlive: false });
    const reader = read.response.body!.getReader();
    await reader.read();
    await delay(100); // past the held one's first ticks: it is watched now
    for (let i = 0; i < 3; i++) await collectGarbage();
    expect(held.target.closed).toBe(false);
    expect(read.target.closed).toBe(false);
    read.target.dispatchMessage("still here");
    expect(new TextDecoder().decode((await reader.read()).value)).toBe("data: still here\n\n");
    await reader.cancel();
    // Read late, as a handler that took its time would have it read: it streams as any other.
    const late = held.response.body!.getReader();
    held.target.dispatchMessage("late");
    let text = "";
    while (!text.includes("data: late"))
      text += new TextDecoder().decode((await late.read()).value);
    for (let i = 0; i < 3; i++) await collectGarbage();
    expect(held.target.closed).toBe(false);
    await late.cancel();
  });
});

describe("HEAD", () => {
  test("sendEvents answers HEAD with the stream's headers and ends its target with reason server", async () => {
    const { response, target } = sendEvents(new Request("http://localhost/", { method: "HEAD" }));
    const reasons: string[] = [];
    target.addEventListener("close", (event) => reasons.push(event.reason));
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    await delay(0);
    expect(target.closed).toBe(true);
    expect(reasons).toEqual(["server"]);
    expect(target.dispatchMessage("late")).toBe(false);
  });
});

describe("two copies of the package", () => {
  test("sendEvents from a second copy of the package, served by the first copy's Node adapter, streams and releases its target", async () => {
    const { cpSync, mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { serve } = await import("../adapters/node.ts");
    // A second install of the package (a dependency's own copy): the same sources, other modules.
    const root = mkdtempSync(join(tmpdir(), "sendevents-copy-"));
    cpSync(new URL("../src", import.meta.url), join(root, "src"), { recursive: true });
    try {
      const other = (await import(
        /* @vite-ignore */ join(root, "src", "index.ts")
      )) as typeof import("../src/index.ts");
      expect(other.sendEvents).not.toBe(sendEvents);
      const closes: string[] = [];
      const server = await serve(
        (incoming) => {
          const { response, target } = other.sendEvents(incoming, { keepAlive: false });
          target.addEventListener("close", (event) => closes.push(event.reason));
          target.dispatchMessage("from the other copy");
          return response;
        },
        { hostname: "127.0.0.1", port: 0 },
      );
      try {
        const controller = new AbortController();
        const response = await fetch(server.url, { signal: controller.signal });
        expect(response.status).toBe(200);
        const reader = response.body!.getReader();
        let text = "";
        while (!text.includes("from the other copy")) {
          const { done, value } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
        expect(text).toContain("data: from the other copy\n\n");
        controller.abort();
        for (let i = 0; i < 100 && other.metrics.open > 0; i++) await delay(10);
        expect(other.metrics.open).toBe(0);
        expect(closes).toEqual(["client"]);
      } finally {
        await server.close();
      }
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe("a sendEvents that throws after opening the stream", () => {
  test("sendEvents ends the stream it opened when waitUntil throws, and rethrows", async () => {
    const before = metrics.open;
    const closes = metrics.closes.error;
    const failure = new Error("waitUntil is not available in this context");
    expect(() =>
      sendEvents(request(), {
        waitUntil: () => {
          throw failure;
        },
        maxDuration: 60_000,
      }),
    ).toThrow(failure);
    // Nobody holds the target: without this it stayed open (keep-alives, the maxDuration timer)
    // until the garbage collector found its unsent body.
    expect(metrics.open).toBe(before);
    expect(metrics.closes.error).toBe(closes + 1);
  });
});
