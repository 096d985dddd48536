import { connect as connectSocket } from "node:net";
import { EventSource } from "eventsource";
import { afterEach, describe, expect, test, vi } from "vitest";
import { type NodeServer, serve } from "../adapters/node.ts";
import {
  metrics,
  ServerSentEvent,
  type ServerSentEventTarget,
  type StreamCloseEvent,
  sendEvents,
} from "../src/index.ts";
import { delay } from "./helpers/stream.ts";

const servers: NodeServer[] = [];
const sources: EventSource[] = [];
afterEach(async () => {
  for (const source of sources.splice(0)) source.close();
  for (const server of servers.splice(0)) await server.close();
});

async function start(
  handler: (request: Request) => Response | Promise<Response>,
): Promise<NodeServer> {
  const server = await serve(handler);
  servers.push(server);
  return server;
}
function connect(url: URL | string): EventSource {
  const source = new EventSource(String(url));
  sources.push(source);
  return source;
}
/** Whether `promise` is still pending after the microtasks queued before this call. */
async function isPending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void promise.then(() => {
    settled = true;
  });
  await null;
  await null;
  return !settled;
}
function next(source: EventSource, type: string): Promise<MessageEvent> {
  return new Promise((resolve) =>
    source.addEventListener(type, (event) => resolve(event as MessageEvent), { once: true }),
  );
}

describe("sendevents/node with the eventsource client", () => {
  test("node delivers messages, custom types, ids and multi-line data; comments raise nothing", async () => {
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      target.dispatchComment("not an event");
      target.dispatchMessage({ hello: "world" });
      target.dispatchEvent(new ServerSentEvent("ping", "line 1\nline 2\r\nline 3", { id: 0 }));
      target.dispatchMessage("done", { id: "end" });
      return response;
    });
    const source = connect(server.url);
    const received: string[] = [];
    source.addEventListener("message", (e) => received.push(`message ${e.data} ${e.lastEventId}`));
    source.addEventListener("ping", (e) => received.push(`ping ${e.data} ${e.lastEventId}`));
    await new Promise<void>((resolve) =>
      source.addEventListener("message", (e) => e.data === "done" && resolve()),
    );
    expect(received).toEqual([
      'message {"hello":"world"} ',
      "ping line 1\nline 2\nline 3 0",
      "message done end",
    ]);
  });

  test("node sends the default headers and lets the caller override them", async () => {
    const server = await start(
      (request) =>
        sendEvents(request, { headers: { "Cache-Control": "no-store", "X-Custom": "yes" } })
          .response,
    );
    const response = await fetch(server.url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-custom")).toBe("yes");
    expect(response.headers.get("connection")).toBe("Keep-Alive");
    expect(response.headers.get("keep-alive")).toBe("timeout=9007199254740991");
    expect(response.headers.get("x-accel-buffering")).toBe("no");
    await response.body?.cancel();
  });

  test("node delivers the headers before any event is dispatched", async () => {
    let resolveTarget!: (target: { close(): Promise<void> }) => void;
    const opened = new Promise<{ close(): Promise<void> }>((resolve) => {
      resolveTarget = resolve;
    });
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      resolveTarget(target);
      return response;
    });
    const source = connect(server.url);
    await next(source, "open");
    await (await opened).close();
  });

  test("node sends Last-Event-ID on reconnect and honours retry", async () => {
    const seen: string[] = [];
    let attempts = 0;
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      seen.push(target.lastEventId);
      attempts++;
      if (attempts === 1) {
        target.dispatchEvent(new ServerSentEvent("message", "first", { id: "é 1", retry: 50 }));
        void target.close();
      } else {
        target.dispatchMessage("second");
      }
      return response;
    });
    const source = connect(server.url);
    const errors: number[] = [];
    source.addEventListener("error", () => errors.push(Date.now()));
    const second = new Promise<number>((resolve) =>
      source.addEventListener("message", (e) => e.data === "second" && resolve(Date.now())),
    );
    const reconnectedAt = await second;
    // The client came back with the id it saw, UTF-8 intact.
    expect(seen).toEqual(["", "é 1"]);
    // retry: 50 replaced the client's default of several seconds.
    expect(reconnectedAt - errors[0]!).toBeLessThan(2000);
  });

  test("node: target.abort() breaks the connection, so the client sees a failed stream, not an end", async () => {
    let target!: ServerSentEventTarget;
    const server = await start((request) => {
      const opened = sendEvents(request);
      target = opened.target;
      target.dispatchMessage("first");
      return opened.response;
    });
    const response = await fetch(server.url);
    const reader = response.body!.getReader();
    let text = "";
    while (!text.includes("first")) text += new TextDecoder().decode((await reader.read()).value);
    const closed = new Promise<StreamCloseEvent>((resolve) =>
      target.addEventListener("close", resolve, { once: true }),
    );
    target.abort(new Error("upstream failed"));
    expect((await closed).reason).toBe("error");
    // An end would read `done`; an aborted connection rejects (undici: "terminated").
    await expect(
      (async () => {
        for (;;) if ((await reader.read()).done) return "ended cleanly";
      })(),
    ).rejects.toThrow();
  });

  test("node: target.close() ends the stream and the client sees it end", async () => {
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      target.dispatchMessage("last");
      void target.close();
      return response;
    });
    const response = await fetch(server.url);
    expect(await response.text()).toBe(":\n\ndata: last\n\n");
  });

  test("node: the client's close() fires close on the server with reason client within 1 s", async () => {
    let resolveClosed!: (event: { reason: string; at: number }) => void;
    const closed = new Promise<{ reason: string; at: number }>((resolve) => {
      resolveClosed = resolve;
    });
    let ticks = 0;
    const server = await start((request) => {
      const { response, target } = sendEvents(request, { keepAlive: 60_000 });
      const timer = setInterval(() => {
        ticks++;
        target.dispatchMessage(ticks);
      }, 10);
      target.addEventListener("close", (event: StreamCloseEvent) => {
        clearInterval(timer);
        resolveClosed({ reason: event.reason, at: Date.now() });
      });
      return response;
    });
    const source = connect(server.url);
    await next(source, "message");
    const leftAt = Date.now();
    source.close();
    const event = await closed;
    expect(event.reason).toBe("client");
    expect(event.at - leftAt).toBeLessThan(1000);
    // The producer stopped with the stream.
    const after = ticks;
    await delay(50);
    expect(ticks).toBe(after);
  });

  test("node answers 500 when the handler throws, and the server keeps serving", async () => {
    const errors: unknown[] = [];
    const server = await serve(
      (request) => {
        if (new URL(request.url).pathname === "/boom") throw new Error("boom");
        return new Response("ok");
      },
      {
        onError: (error) => {
          errors.push(error);
          return new Response("sorry", { status: 500 });
        },
      },
    );
    servers.push(server);
    const failed = await fetch(new URL("/boom", server.url));
    expect(failed.status).toBe(500);
    expect(await failed.text()).toBe("sorry");
    expect(errors).toHaveLength(1);
    expect(await (await fetch(server.url)).text()).toBe("ok");
  });

  test("node streams a request body to the handler", async () => {
    const server = await start(async (request) => new Response(`got ${await request.text()}`));
    const response = await fetch(server.url, { method: "POST", body: "hello" });
    expect(await response.text()).toBe("got hello");
  });
});

describe("sendevents/node: the direct path and the lazy request", () => {
  test("node gives the handler a real-looking Request: instanceof, url, headers, signal, clone", async () => {
    let seen: Record<string, unknown> = {};
    const server = await start(async (request) => {
      seen = {
        isRequest: request instanceof Request,
        method: request.method,
        url: new URL(request.url).pathname + new URL(request.url).search,
        header: request.headers.get("x-test"),
        aborted: request.signal.aborted,
        cloned: await request.clone().text(),
        text: await request.text(),
        tag: Object.prototype.toString.call(request),
      };
      return new Response("ok");
    });
    await fetch(new URL("/path?q=1", server.url), {
      method: "PUT",
      headers: { "X-Test": "yes" },
      body: "payload",
    });
    expect(seen).toEqual({
      isRequest: true,
      method: "PUT",
      url: "/path?q=1",
      header: "yes",
      aborted: false,
      cloned: "payload",
      text: "payload",
      tag: "[object Request]",
    });
  });

  test("node hands a producer's text to the socket in one write of highWaterMark, within the turn", async () => {
    // Text is counted as text up to the mark, and a socket that can take it takes the whole mark
    // at once, as one string: the batch a hand-tuned server writes. The chunk sizes on the wire
    // are the writes.
    let waiting = -1;
    let pending = true;
    const frames = Array.from({ length: 100 }, (_, i) => `${i} ${"x".repeat(1000)}`);
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      setTimeout(async () => {
        for (const frame of frames) target.dispatchMessage(frame);
        waiting = target.bufferedAmount;
        pending = await isPending(target.ready);
        target.dispatchMessage("done");
        void target.close();
      }, 50);
      return response;
    });
    const socket = connectSocket(server.port, "127.0.0.1");
    socket.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    let wire = "";
    socket.setEncoding("latin1");
    socket.on("data", (data: string) => {
      wire += data;
    });
    await vi.waitFor(() => expect(wire.endsWith("\r\n0\r\n\r\n")).toBe(true));
    socket.destroy();
    const body = wire.slice(wire.indexOf("\r\n\r\n") + 4);
    const sizes: number[] = [];
    let text = "";
    for (let at = 0; ; ) {
      const line = body.indexOf("\r\n", at);
      const size = Number.parseInt(body.slice(at, line), 16);
      if (size === 0) break;
      sizes.push(size);
      text += body.slice(line + 2, line + 2 + size);
      at = line + 2 + size + 2;
    }
    expect(text).toBe(`:\n\n${[...frames, "done"].map((frame) => `data: ${frame}\n\n`).join("")}`);
    // The opening, then one write of the mark's worth (it ends with the frame that reached it).
    expect(sizes[0]).toBe(3);
    expect(sizes[1]).toBeGreaterThanOrEqual(65536);
    expect(sizes[1]).toBeLessThan(65536 + 1100);
    // Everything after it waited in the queue (then left with "done", or before it), and `ready`
    // never did.
    const rest = sizes.slice(2).reduce((sum, size) => sum + size, 0);
    expect(waiting).toBe(rest - "data: done\n\n".length);
    expect(pending).toBe(false);
  });

  test("node counts queued text exactly, 2-, 3- and 4-byte characters and lone surrogates, against the mark", async () => {
    // Text is counted by Node as a string, not encoded: every count must still be TextEncoder's.
    const pieces = ["é", "€", "😀", "\ud800", "x"];
    const highWaterMark = 30_000;
    const seen: { buffered: number; expected: number; waiting: boolean }[] = [];
    const server = await start((request) => {
      const { response, target } = sendEvents(request, { highWaterMark });
      setTimeout(async () => {
        // All in one turn (microtasks only): nothing is written until its end, so what is queued
        // is what was sent.
        let expected = 0;
        for (let i = 0; i < 40; i++) {
          const data = pieces[i % pieces.length]!.repeat(300);
          target.dispatchMessage(data);
          expected += new TextEncoder().encode(`data: ${data}\n\n`).byteLength;
          const waiting = await isPending(target.ready);
          seen.push({ buffered: target.bufferedAmount, expected, waiting });
        }
        void target.close();
      }, 50);
      return response;
    });
    const response = await fetch(server.url);
    await response.text();
    expect(seen.length).toBe(40);
    for (const { buffered, expected, waiting } of seen) {
      expect(buffered).toBe(expected);
      expect(waiting).toBe(expected >= highWaterMark);
    }
  });

  test("node aborts request.signal, read after sendEvents, when the client leaves", async () => {
    let signal: AbortSignal | undefined;
    const server = await start((request) => {
      const { response } = sendEvents(request);
      signal = request.signal;
      return response;
    });
    const source = connect(server.url);
    await next(source, "open");
    expect(signal?.aborted).toBe(false);
    const aborted = new Promise((resolve) => signal!.addEventListener("abort", resolve));
    source.close();
    await aborted;
    expect(signal?.aborted).toBe(true);
  });

  test("node honours headers a handler sets on the response it got from sendEvents", async () => {
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      response.headers.set("x-late", "set after sendEvents");
      target.dispatchMessage("hi");
      return response;
    });
    const response = await fetch(server.url);
    expect(response.headers.get("x-late")).toBe("set after sendEvents");
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const reader = response.body!.getReader();
    const { value } = await reader.read();
    expect(new TextDecoder().decode(value)).toContain("data: hi\n\n");
    await reader.cancel();
  });

  test("node streams a response rebuilt around the event stream's body (middleware that wraps it)", async () => {
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      target.dispatchMessage("wrapped");
      void target.close();
      const headers = new Headers(response.headers);
      headers.set("x-wrapped", "1");
      return new Response(response.body, { status: response.status, headers });
    });
    const response = await fetch(server.url);
    expect(response.headers.get("x-wrapped")).toBe("1");
    expect(await response.text()).toBe(":\n\ndata: wrapped\n\n");
  });

  test("node ends a stream closed in the handler with every event, in order", async () => {
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      for (let i = 0; i < 1000; i++) target.dispatchMessage(i, { id: i });
      void target.close();
      return response;
    });
    const text = await (await fetch(server.url)).text();
    const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((m) => Number(m[1]));
    expect(ids).toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  test.each([
    // Any character past U+00FF makes a string two bytes a unit: such text is held as its bytes.
    ["mostly-ASCII text with an emoji", `😀${"x".repeat(500)}`],
    // ASCII stays a string (a byte a unit); what Node holds of a write it could not send is the
    // string and a copy at a byte a unit (Latin-1), not three (UTF-8 through `writev`).
    ["ASCII text", "x".repeat(500)],
  ])("node holds a stalled client's %s in about its bytes", async (_kind, data) => {
    const { heldBytes, MB } = await import("./helpers/heap.ts");
    const mark = 4 * MB;
    const targets: ServerSentEventTarget[] = [];
    const server = await start((request) => {
      const { response, target } = sendEvents(request, {
        highWaterMark: mark,
        maxBufferedAmount: 64 * MB,
        keepAlive: false,
      });
      targets.push(target);
      void (async () => {
        while (!target.closed) {
          await target.ready;
          target.dispatchMessage(data);
        }
      })();
      return response;
    });
    const stall = (count: number) => {
      const sockets = Array.from({ length: count }, () => {
        const socket = connectSocket(server.port, "127.0.0.1");
        socket.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
        socket.pause();
        return socket;
      });
      // The kernel's buffers fill, then Node's, then each target's queue, up to the mark. (Polled
      // by hand: a failing `expect` in `vi.waitFor` makes vitest load and keep modules of its own.)
      const full = () =>
        targets.length === count && targets.every((target) => target.bufferedAmount >= mark);
      return (async () => {
        for (let waited = 0; !full(); waited += 10) {
          if (waited > 10_000) throw new Error("the queues never reached the mark");
          await delay(10);
        }
        return sockets;
      })();
    };
    // One stream first, so that what the process compiles for it is not counted.
    for (const socket of await stall(1)) socket.destroy();
    while (!targets[0]!.closed) await delay(10);
    targets.length = 0;
    const before = await heldBytes();
    const sockets = await stall(3);
    const held = (await heldBytes()) - before;
    for (const socket of sockets) socket.destroy();
    // Per stream: the queue (the mark's worth), and what Node holds of the write it could not send
    // (at most the mark's worth again, and a copy of it at a byte a unit). Strings of two bytes a
    // unit, or UTF-8 copies of three, hold five to seven times the mark.
    expect(held).toBeLessThan(3 * 4 * mark);
  });

  test("node's queuedBytes gauge is the targets' bufferedAmount, and returns to where it was, for text counted as a string or as bytes", async () => {
    // Text waiting is counted by Node as a string (ASCII) or encoded (other text), then taken as a
    // string or as bytes: the gauge must follow every step, however the stream ends. (The gauge is
    // the process's: the streams of earlier tests end first.)
    await vi.waitFor(() => expect(metrics.open).toBe(0));
    const before = metrics.queuedBytes;
    const targets: ServerSentEventTarget[] = [];
    const server = await start((request) => {
      const url = new URL(request.url);
      const { response, target } = sendEvents(request, {
        maxBufferedAmount: 16 * 1024 * 1024,
        keepAlive: false,
      });
      targets.push(target);
      const data = url.searchParams.has("ascii") ? "x".repeat(300) : `😀é${"x".repeat(300)}`;
      void (async () => {
        for (let i = 0; i < 40_000 && !target.closed; i++) {
          // Now and then a turn ends, so that the socket takes a few frames' text as it is.
          if (i % 25 === 0) await new Promise((resolve) => setImmediate(resolve));
          await target.ready;
          target.dispatchMessage(data);
        }
        if (url.searchParams.has("close")) await target.close();
      })();
      return response;
    });
    const sockets = [];
    for (const query of ["ascii&close", "ascii", "close", ""]) {
      for (const stalled of [true, false]) {
        const socket = connectSocket(server.port, "127.0.0.1");
        socket.write(`GET /?${query} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
        if (stalled) socket.pause();
        else socket.resume();
        sockets.push(socket);
      }
    }
    await vi.waitFor(() => {
      expect(targets.length).toBe(8);
      // The stalled ones have filled the kernel's buffers and Node's, and queue.
      expect(targets.filter((target) => target.bufferedAmount > 0).length).toBeGreaterThanOrEqual(
        4,
      );
    });
    const queued = targets.reduce((sum, target) => sum + target.bufferedAmount, 0);
    expect(metrics.queuedBytes - before).toBe(queued);
    for (const socket of sockets) socket.destroy();
    await vi.waitFor(() => expect(targets.every((target) => target.closed)).toBe(true));
    expect(metrics.queuedBytes).toBe(before);
  });

  test("node keeps a slow reader's backlog in the target, where ready and the bound see it", async () => {
    let target: ServerSentEventTarget | undefined;
    const server = await start((request) => {
      const result = sendEvents(request, { highWaterMark: 1024, maxBufferedAmount: 1 << 30 });
      target = result.target;
      return result.response;
    });
    // A raw client that reads the head, then stops reading.
    const socket = connectSocket(server.port, "127.0.0.1");
    socket.write("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    await new Promise((resolve) => socket.once("data", resolve));
    socket.pause();
    const chunk = "x".repeat(64 * 1024);
    // The socket's buffers fill, then the target keeps the rest in its own queue.
    for (let i = 0; i < 500 && target!.bufferedAmount < 1024; i++) {
      target!.dispatchMessage(chunk);
      await delay(2);
    }
    expect(target!.bufferedAmount).toBeGreaterThanOrEqual(1024);
    let isReady = false;
    void target!.ready.then(() => {
      isReady = true;
    });
    await delay(50);
    expect(isReady).toBe(false);
    // Reading again drains it: ready resolves.
    socket.resume();
    await vi.waitFor(() => expect(isReady).toBe(true), { timeout: 5000 });
    socket.destroy();
  });
});

describe("sendevents/node options", () => {
  test("node rejects a sendTimeout past 2**31 - 1 ms (it would fire after 1 ms) and one below 1, naming it", async () => {
    const { createListener } = await import("../adapters/node.ts");
    const handler = () => new Response("ok");
    for (const sendTimeout of [0, 1.5, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
      expect(() => createListener(handler, { sendTimeout })).toThrow(
        new RangeError(
          `Cannot create listener: "sendTimeout" must be an integer from 1 to 2147483647, or false to turn it off, received ${sendTimeout}`,
        ),
      );
    }
    expect(() => createListener(handler, { sendTimeout: 2 ** 31 - 1 })).not.toThrow();
    expect(() => createListener(handler, { sendTimeout: false })).not.toThrow();
  });
});
