import { EventSource } from "eventsource";
import { afterEach, describe, expect, test } from "vitest";
import { type NodeServer, serve } from "../adapters/node.ts";
import { ServerSentEvent, type StreamCloseEvent, sendEvents } from "../src/index.ts";
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
