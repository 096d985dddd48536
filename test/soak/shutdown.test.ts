import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { type NodeServer, serve } from "../../adapters/node.ts";
import { type metrics, StreamGroup, sendEvents } from "../../src/index.ts";
import { type ServerProcess, startServer } from "../runtimes/launch.ts";
import { connect, delay, ensureBuilt, type RawClient } from "./harness.ts";

const servers: NodeServer[] = [];
const clients: RawClient[] = [];
const children: ServerProcess[] = [];

beforeAll(ensureBuilt, 120_000);
afterEach(async () => {
  for (const client of clients.splice(0)) client.socket.destroy();
  for (const server of servers.splice(0)) await server.close();
});
afterAll(async () => {
  for (const child of children) await child.stop();
});

function open(server: NodeServer, path = "/"): RawClient {
  const client = connect(server.port, { path });
  clients.push(client);
  return client;
}

describe("serve() shutdown", () => {
  test("serve() tracks every event stream it serves in server.streams", async () => {
    const server = await serve((request) => {
      const { response, target } = sendEvents(request);
      target.dispatchMessage("ready");
      return response;
    });
    servers.push(server);
    const a = open(server);
    const b = open(server);
    await Promise.all([a.ready, b.ready]);
    expect(server.streams.size).toBe(2);
    await a.reset();
    await delay(100);
    expect(server.streams.size).toBe(1);
  });

  test("serve() shutdown() sends each stream a retry within the jitter, ends it and closes the server", async () => {
    const reasons: string[] = [];
    const server = await serve((request) => {
      const { response, target } = sendEvents(request);
      target.dispatchMessage("ready");
      target.addEventListener("close", (event) => reasons.push(event.reason));
      return response;
    });
    servers.push(server);
    const streams = Array.from({ length: 10 }, () => open(server));
    await Promise.all(streams.map((client) => client.ready));
    const result = await server.shutdown({ retry: 500, jitter: 1000, deadline: 2000 });
    expect(result).toEqual({ closed: 10, aborted: 0 });
    expect(reasons).toEqual(Array(10).fill("server"));
    await Promise.all(streams.map((client) => client.closed));
    for (const client of streams) {
      const retry = Number(/\nretry: (\d+)\n\n/.exec(client.head)?.[1]);
      expect(retry).toBeGreaterThanOrEqual(500);
      expect(retry).toBeLessThanOrEqual(1500);
      // The chunked body ended properly: a clean end, not a reset.
      expect(client.head.endsWith("\r\n0\r\n\r\n")).toBe(true);
    }
    expect(server.server.listening).toBe(false);
    expect(server.shutdown()).toBe(server.shutdown());
  });

  test("serve() shutdown() aborts a stream whose client stopped reading once the deadline passes", async () => {
    const server = await serve(
      (request) => {
        const { response, target } = sendEvents(request, { maxBufferedAmount: 64 * 1024 * 1024 });
        target.dispatchMessage("ready");
        // Far more than the socket buffers hold, so close() cannot hand it all over.
        const chunk = "x".repeat(1024 * 1024);
        for (let i = 0; i < 32; i++) target.dispatchMessage(chunk);
        return response;
      },
      { sendTimeout: false },
    );
    servers.push(server);
    const stuck = connect(server.port, { path: "/", frozen: true });
    clients.push(stuck);
    await delay(300);
    expect(server.streams.size).toBe(1);
    const started = performance.now();
    const result = await server.shutdown({ deadline: 300 });
    expect(result).toEqual({ closed: 0, aborted: 1 });
    expect(performance.now() - started).toBeLessThan(5000);
    expect(server.streams.size).toBe(0);
  });

  test("serve() sendTimeout closes a stream whose client takes nothing while bytes wait", async () => {
    const reasons: string[] = [];
    const server = await serve(
      (request) => {
        const { response, target } = sendEvents(request, { maxBufferedAmount: 256 * 1024 * 1024 });
        target.dispatchMessage("ready");
        target.addEventListener("close", (event) => reasons.push(event.reason));
        const chunk = "x".repeat(1024 * 1024);
        const timer = setInterval(() => target.dispatchMessage(chunk), 20);
        target.addEventListener("close", () => clearInterval(timer));
        return response;
      },
      { sendTimeout: 300 },
    );
    servers.push(server);
    const idle = open(server, "/");
    await idle.ready;
    idle.vanish();
    const deadline = performance.now() + 20_000;
    while (reasons.length === 0 && performance.now() < deadline) await delay(50);
    expect(reasons).toEqual(["client"]);
  });

  test("serve() sendTimeout leaves an idle stream open", async () => {
    const server = await serve((request) => sendEvents(request, { keepAlive: false }).response, {
      sendTimeout: 100,
    });
    servers.push(server);
    const client = open(server);
    await Promise.race([client.ready, delay(500)]);
    await delay(500);
    expect(server.streams.size).toBe(1);
    expect(client.socket.destroyed).toBe(false);
  });

  test("createListener() rejects a sendTimeout that is not a positive integer or false", async () => {
    for (const sendTimeout of [0, -1, 1.5, Number.NaN, "5000" as never]) {
      await expect(serve(() => new Response("x"), { sendTimeout })).rejects.toThrow(RangeError);
    }
  });

  test("serve() takes a StreamGroup from the caller", async () => {
    const streams = new StreamGroup();
    const server = await serve((request) => sendEvents(request).response, { streams });
    servers.push(server);
    expect(server.streams).toBe(streams);
    const client = open(server);
    await delay(200);
    expect(streams.size).toBe(1);
    client.socket.destroy();
  });
});

describe("examples/node/shutdown.js", () => {
  test("examples/node/shutdown.js serves a clock, counts it on /metrics and shuts down on SIGTERM", async () => {
    const deadline = performance.now() + 10_000;
    const child = await startServer(
      "examples/node/shutdown.js",
      process.execPath,
      ["examples/node/shutdown.js"],
      { timeout: 10_000 },
    );
    children.push(child);
    const { url } = child;
    const clock = connect(Number(url.port), { path: "/clock" });
    clients.push(clock);
    while (!clock.head.includes("\nid: 1\n") && performance.now() < deadline) await delay(20);
    expect(clock.head).toContain("\nid: 1\n");
    const counters = (await (await fetch(new URL("/metrics", url))).json()) as typeof metrics;
    expect(counters.open).toBe(1);
    expect(counters.eventsSent).toBeGreaterThanOrEqual(1);
    child.kill("SIGTERM");
    expect((await child.exited).code).toBe(0);
    expect(child.output()).toContain("shut down: 1 closed, 0 aborted");
    await clock.closed;
    const retry = Number(/\nretry: (\d+)\n\n/.exec(clock.head)?.[1]);
    expect(retry).toBeGreaterThanOrEqual(1000);
    expect(retry).toBeLessThanOrEqual(6000);
  });
});
