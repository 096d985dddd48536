import { afterEach, describe, expect, test, vi } from "vitest";
import { MAX_PIPELINED } from "../adapters/_node/pipelining.ts";
import { type NodeServer, serve } from "../adapters/node.ts";
import { type ServerSentEventTarget, type StreamCloseEvent, sendEvents } from "../src/index.ts";
import { get, headerOf, headOf, RawConnection } from "./helpers/raw-http.ts";
import { delay } from "./helpers/stream.ts";

const servers: NodeServer[] = [];
const connections: RawConnection[] = [];
afterEach(async () => {
  for (const connection of connections.splice(0)) connection.destroy();
  for (const server of servers.splice(0)) await server.close();
});

async function start(
  handler: (request: Request) => Response | Promise<Response>,
): Promise<NodeServer> {
  const server = await serve(handler);
  // Far longer than any bound below: a socket that closes in time was closed for the request.
  (server.server as import("node:http").Server).keepAliveTimeout = 60_000;
  servers.push(server);
  return server;
}
function open(server: NodeServer, request?: string): RawConnection {
  const connection = new RawConnection(server.port, request);
  connections.push(connection);
  return connection;
}

/** A handler whose event streams are recorded, with the reason each one closed. */
function recording() {
  const targets: ServerSentEventTarget[] = [];
  const reasons: string[] = [];
  const handler = (request: Request): Response => {
    const url = new URL(request.url);
    if (url.pathname !== "/events") return new Response(`plain ${url.search}`);
    const { response, target } = sendEvents(request);
    targets.push(target);
    target.addEventListener("close", (event: StreamCloseEvent) => reasons.push(event.reason));
    target.dispatchMessage("hi");
    return response;
  };
  return { targets, reasons, handler };
}

describe("sendevents/node: Connection: close (RFC 9112 §9.6)", () => {
  test("node answers an event stream's Connection: close with Connection: close and closes the socket when it ends", async () => {
    const { targets, handler } = recording();
    const server = await start(handler);
    const connection = open(server, get("/events", ["Connection: close"]));
    await connection.until((text) => text.includes("data: hi"));
    expect(headerOf(connection.text, "connection")).toBe("close");
    expect(headerOf(connection.text, "keep-alive")).toBeUndefined();
    void targets[0]!.close();
    expect(await connection.closesWithin(10_000)).toBe(true);
    expect(connection.closedByServer).toBe(true);
    expect(connection.text.endsWith("0\r\n\r\n")).toBe(true);
  });

  test("node closes an HTTP/1.0 event stream's connection when it ends, and says so", async () => {
    const { targets, handler } = recording();
    const server = await start(handler);
    const connection = open(server, get("/events", [], "1.0"));
    await connection.until((text) => text.includes("data: hi"));
    expect(headerOf(connection.text, "connection")).toBe("close");
    expect(headerOf(connection.text, "keep-alive")).toBeUndefined();
    void targets[0]!.close();
    expect(await connection.closesWithin(10_000)).toBe(true);
  });

  test("node answers a plain response's Connection: close with close, whatever the handler set", async () => {
    const server = await start(
      () =>
        new Response("ok", { headers: { Connection: "keep-alive", "Keep-Alive": "timeout=5" } }),
    );
    const connection = open(server, get("/", ["Connection: close"]));
    expect(await connection.closesWithin(10_000)).toBe(true);
    expect(headerOf(connection.text, "connection")).toBe("close");
    expect(headerOf(connection.text, "keep-alive")).toBeUndefined();
  });

  test("node keeps a keep-alive client's event stream connection open after it ends", async () => {
    const { targets, handler } = recording();
    const server = await start(handler);
    const connection = open(server, get("/events"));
    await connection.until((text) => text.includes("data: hi"));
    expect(headerOf(connection.text, "connection")).toBe("Keep-Alive");
    await targets[0]!.close();
    await connection.until((text) => text.endsWith("0\r\n\r\n"));
    // The same connection serves the next request.
    connection.socket.write(get("/?next"));
    await connection.until((text) => text.includes("plain ?next"));
  });
});

describe("sendevents/node: HEAD on an event stream", () => {
  test("node answers HEAD with the event stream's headers, no body, and ends the target with reason server", async () => {
    const reasons: string[] = [];
    const server = await start((request) => {
      const { response, target } = sendEvents(request, { headers: { "X-Stream": "yes" } });
      target.dispatchMessage("never sent");
      target.addEventListener("close", (event: StreamCloseEvent) => reasons.push(event.reason));
      return response;
    });
    const connection = open(server, get("/", [], "1.1").replace("GET", "HEAD"));
    await connection.until((text) => text.includes("\r\n\r\n"));
    expect(headOf(connection.text)).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(headerOf(connection.text, "content-type")).toBe("text/event-stream");
    expect(headerOf(connection.text, "x-stream")).toBe("yes");
    await vi.waitFor(() => expect(reasons).toEqual(["server"]));
    // No body: the next response on the connection follows the head directly.
    connection.socket.write(get("/").replace("GET", "HEAD"));
    await connection.until((text) => text.split("HTTP/1.1 200").length === 3);
    expect(connection.text).not.toContain("never sent");
    expect(connection.text.slice(connection.text.indexOf("\r\n\r\n") + 4)).toMatch(/^HTTP\/1\.1/);
  });

  test("node ends with reason server a HEAD's event stream that middleware rebuilt", async () => {
    const reasons: string[] = [];
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      target.addEventListener("close", (event: StreamCloseEvent) => reasons.push(event.reason));
      return new Response(response.body, { headers: response.headers });
    });
    const response = await fetch(server.url, { method: "HEAD" });
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    await vi.waitFor(() => expect(reasons).toEqual(["server"]));
  });
});

describe("sendevents/node: pipelined requests", () => {
  test("node runs no handler for a pipelined request until its turn, and ends every stream when the client goes", async () => {
    const { targets, reasons, handler } = recording();
    const server = await start(handler);
    const connection = open(server, get("/events").repeat(20));
    await connection.until((text) => text.includes("data: hi"));
    await delay(50);
    // Only the stream that has the connection was opened; the others wait their turn.
    expect(targets).toHaveLength(1);
    connection.destroy();
    await vi.waitFor(() => expect(reasons).toEqual(["client"]));
    await delay(50);
    expect(targets.every((target) => target.closed)).toBe(true);
  });

  test("node answers pipelined requests in order once the event stream ahead of them ends", async () => {
    const { targets, handler } = recording();
    const server = await start(handler);
    const connection = open(server, get("/events") + get("/?a") + get("/?b"));
    await connection.until((text) => text.includes("data: hi"));
    expect(connection.text).not.toContain("plain");
    void targets[0]!.close();
    const text = await connection.until((text) => text.includes("plain ?b"));
    expect(text.indexOf("plain ?a")).toBeLessThan(text.indexOf("plain ?b"));
    expect(text.indexOf("data: hi")).toBeLessThan(text.indexOf("plain ?a"));
  });

  test(`node destroys a connection that pipelines more than ${MAX_PIPELINED} requests behind the one being answered`, async () => {
    const { targets, reasons, handler } = recording();
    const server = await start(handler);
    const connection = open(server, get("/events").repeat(MAX_PIPELINED + 10));
    expect(await connection.closesWithin(10_000)).toBe(true);
    await vi.waitFor(() => expect(reasons).toEqual(["client"]));
    expect(targets).toHaveLength(1);
    // The server is fine: the next connection is served.
    const next = open(server, get("/?after"));
    await next.until((text) => text.includes("plain ?after"));
  });

  test(`node serves ${MAX_PIPELINED} pipelined requests, each in its turn`, async () => {
    const server = await start((request) => new Response(new URL(request.url).search));
    let requests = "";
    for (let i = 0; i <= MAX_PIPELINED; i++) requests += get(`/?n=${i}`);
    const connection = open(server, requests);
    await connection.until((text) => text.includes(`?n=${MAX_PIPELINED}`));
    const order = [...connection.text.matchAll(/\?n=(\d+)/g)].map((m) => Number(m[1]));
    expect(order).toEqual(Array.from({ length: MAX_PIPELINED + 1 }, (_, i) => i));
  });
});
