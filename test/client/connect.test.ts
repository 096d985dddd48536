// connect() against the client app served in this process on 127.0.0.1 (through sendevents/node),
// and against an injected fetch where the server's misbehaviour is the point.
import { getEventListeners } from "node:events";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
// The app imports "sendevents" (dist/), so the server must be dist's too: `npm run build` first.
import { serve } from "../../adapters/node.ts";
import { type ConnectionErrorEvent, connect, EventConnection } from "../../src/client/index.ts";
import { sendEvents } from "../../src/index.ts";
import app from "./app.js";

interface LoggedRequest {
  method: string;
  lastEventId: string | null;
  authorization: string | null;
}

let server: Awaited<ReturnType<typeof serve>>;
let keys = 0;
const url = (path: string): URL => new URL(path, server.url);
const uniqueKey = (name: string): string => `${name}-${++keys}`;
const requests = async (key: string): Promise<LoggedRequest[]> =>
  (await fetch(url(`/client/requests?key=${key}`))).json() as Promise<LoggedRequest[]>;

beforeAll(async () => {
  server = await serve((request) => app.fetch(request), { port: 0, hostname: "127.0.0.1" });
});
afterAll(async () => {
  await server?.close();
});

/** Every `error` event of a connection, as it comes. */
function errors(connection: EventConnection): ConnectionErrorEvent[] {
  const list: ConnectionErrorEvent[] = [];
  connection.addEventListener("error", (event) => list.push(event));
  return list;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Timers alive in this process (Node's view). */
function timers(): number {
  return process.getActiveResourcesInfo().filter((name) => name === "Timeout").length;
}

describe("connect", () => {
  test("connect retries 503 and 429, honouring Retry-After, then streams", async () => {
    for (const code of [503, 429]) {
      const key = uniqueKey(`status-${code}`);
      const connection = connect(url(`/client/status?code=${code}&times=2&key=${key}`));
      const failed = errors(connection);
      const data: unknown[] = [];
      for await (const event of connection) {
        data.push(event.data);
        break;
      }
      expect(data).toEqual(["finally"]);
      // Retry-After: 0 from the server, over the 3 s default, jittered by at most a quarter of 0.
      expect(failed.map((event) => [event.status, event.retryIn])).toEqual([
        [code, 0],
        [code, 0],
      ]);
      expect(await requests(key)).toHaveLength(3);
    }
  });

  test("connect stops for good on a 4xx, reporting the status once, and the loop throws", async () => {
    const key = uniqueKey("status-404");
    const connection = connect(url(`/client/status?code=404&key=${key}`));
    const failed = errors(connection);
    await expect(
      (async () => {
        for await (const _ of connection) {
          // nothing comes
        }
      })(),
    ).rejects.toThrow(/the server answered 404/);
    expect(await connection.closed).toMatchObject({ reason: "error", status: 404 });
    expect(failed.map((event) => [event.status, event.retryIn])).toEqual([[404, undefined]]);
    expect(connection.readyState).toBe(EventConnection.CLOSED);
    expect(await requests(key)).toHaveLength(1);
  });

  test("connect stops for good on a 200 that is not text/event-stream", async () => {
    const connection = connect(url("/stats"));
    const end = await connection.closed;
    expect(end).toMatchObject({ reason: "error", status: 200 });
    expect(String(end.error)).toMatch(
      /expected a text\/event-stream response, received "application\/json"/,
    );
  });

  test("connect backs off exponentially on network errors, up to maxRetries, then gives up", async () => {
    const port = await closedPort();
    const connection = connect(`http://127.0.0.1:${port}/`, { retry: 10, maxRetries: 3 });
    const failed = errors(connection);
    const end = await connection.closed;
    expect(end.reason).toBe("error");
    const waits = failed.map((event) => event.retryIn);
    expect(waits).toHaveLength(4);
    expect(waits[3]).toBeUndefined(); // the fourth failure: given up
    // The server's retry first, then doubling from at least 100 ms, each up to a quarter more.
    for (const [i, base] of [10, 200, 400].entries()) {
      expect(waits[i]).toBeGreaterThanOrEqual(base);
      expect(waits[i]).toBeLessThanOrEqual(base * 1.25);
    }
  });

  test("connect caps every wait at maxRetryDelay", async () => {
    const port = await closedPort();
    const connection = connect(`http://127.0.0.1:${port}/`, {
      retry: 1_000,
      maxRetryDelay: 5,
      maxRetries: 4,
    });
    const failed = errors(connection);
    await connection.closed;
    expect(failed.slice(0, 4).map((event) => event.retryIn)).toEqual([5, 5, 5, 5]);
  });

  test("connect asks for fresh headers on every attempt", async () => {
    const key = uniqueKey("headers");
    let token = 0;
    const connection = connect(url(`/client/retry?ms=5&key=${key}`), {
      headers: async () => ({ authorization: `Bearer ${++token}` }),
    });
    let n = 0;
    for await (const _ of connection) if (++n === 3) break;
    const log = await requests(key);
    expect(log.map((request) => request.authorization)).toEqual([
      "Bearer 1",
      "Bearer 2",
      "Bearer 3",
    ]);
  });

  test("connect counts a headers function that rejects as a failed attempt, and retries", async () => {
    let calls = 0;
    const sent: (string | null)[] = [];
    const connection = connect("http://app.test/", {
      retry: 0,
      headers: async () => {
        if (++calls === 1) throw new Error("token service down");
        return { authorization: "Bearer fresh" };
      },
      fetch: async (input, init) => {
        sent.push(new Request(input, init).headers.get("authorization"));
        return new Response(null, { status: 204 });
      },
    });
    const failed = errors(connection);
    expect(await connection.closed).toEqual({ reason: "done", status: 204 });
    expect(failed.map((event) => String(event.error))).toEqual(["Error: token service down"]);
    expect(sent).toEqual(["Bearer fresh"]);
  });

  test("connect resumes after a manual reconnect() from the last id, losing nothing", async () => {
    const room = uniqueKey("manual");
    const connection = connect<{ hello: object; tick: { n: number } }>(
      url(`/client/feed?room=${room}&key=${room}`),
      { parse: { hello: "json", tick: "json" } },
    );
    const ticks: number[] = [];
    let reconnects = 0;
    for await (const event of connection) {
      if (event.type !== "tick") continue;
      ticks.push(event.data.n);
      if (ticks.length % 5 === 0 && reconnects < 2) {
        reconnects++;
        const before = connection.lastEventId;
        connection.reconnect();
        expect(connection.lastEventId).toBe(before);
      }
      if (ticks.length === 20) break;
    }
    expect(ticks).toEqual(ticks.map((_, i) => ticks[0]! + i));
    const log = await requests(room);
    expect(log).toHaveLength(3);
    expect(log[0]!.lastEventId).toBeNull();
    expect(log[1]!.lastEventId).toMatch(/:\d+$/);
    expect(log[2]!.lastEventId).toMatch(/:\d+$/);
  });

  test("connect ends the loop's connection when the loop breaks, and the server sees the client leave", async () => {
    const id = uniqueKey("break");
    const connection = connect(url(`/?interval=10&id=${id}`));
    for await (const event of connection) if (event.type === "message") break;
    expect(await connection.closed).toMatchObject({ reason: "closed" });
    await expect
      .poll(async () => (await fetch(url(`/stats?id=${id}`))).json(), { interval: 50 })
      .toMatchObject({ state: "closed", reason: "client" });
  });

  test("connect leaves no timer and no listener on the signal behind when aborted while waiting to reconnect", async () => {
    const key = uniqueKey("timer");
    const controller = new AbortController();
    const connection = connect(url(`/client/retry?ms=20000&key=${key}`), {
      signal: controller.signal,
    });
    await new Promise((resolve) => connection.addEventListener("error", resolve, { once: true }));
    // Counted just around the abort: the in-process server's own timers (keep-alive wheels of
    // earlier tests' streams) start and stop on their own, so a count from before the connection
    // is not a fixed baseline.
    const waiting = timers();
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    controller.abort();
    expect(await connection.closed).toMatchObject({ reason: "aborted" });
    expect(timers()).toBe(waiting - 1);
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  test("connect removes its listener from the signal when it ends another way", async () => {
    const controller = new AbortController();
    const connection = connect(url("/client/done?key=signal"), { signal: controller.signal });
    expect(await connection.closed).toMatchObject({ reason: "done" });
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });

  test("connect reads the body no faster than a slow loop takes events", async () => {
    let pulls = 0;
    let n = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulls++;
        let text = "";
        for (let i = 0; i < 100; i++) text += `id: ${++n}\ndata: ${n}\n\n`;
        controller.enqueue(new TextEncoder().encode(text));
      },
    });
    const connection = connect("http://app.test/", {
      fetch: async () => new Response(body, { headers: { "content-type": "text/event-stream" } }),
    });
    const seen: string[] = [];
    for await (const event of connection) {
      seen.push(event.data as string);
      if (seen.length === 10) {
        // Time enough to read thousands of chunks, if nothing held the reading back.
        await new Promise((resolve) => setTimeout(resolve, 100));
        break;
      }
    }
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => String(i + 1)));
    // 1024 events queued for the loop, a chunk being read, and the stream's own buffer.
    expect(pulls).toBeLessThanOrEqual(14);
    expect(await connection.closed).toMatchObject({ reason: "closed" });
  });

  test("connect has EventSource's onopen, onmessage and onerror, each holding one handler", async () => {
    let calls = 0;
    const connection = connect("http://app.test/", {
      retry: 0,
      fetch: async () =>
        ++calls === 1
          ? new Response("data: a\n\nevent: other\ndata: b\n\n", {
              headers: { "content-type": "text/event-stream" },
            })
          : new Response(null, { status: 204 }),
    });
    const log: string[] = [];
    connection.onmessage = () => log.push("replaced");
    connection.onmessage = function (event) {
      log.push(`message ${event.data} ${this === connection}`);
    };
    connection.onopen = () => log.push("open");
    connection.onerror = (event) => log.push(`error ${event.retryIn}`);
    expect(typeof connection.onmessage).toBe("function");
    expect(await connection.closed).toEqual({ reason: "done", status: 204 });
    expect(log).toEqual(["open", "message a true", "error 0"]);
    connection.onmessage = null;
    expect(connection.onmessage).toBeNull();
  });

  test("connect with an aborted signal never fetches", async () => {
    let calls = 0;
    const connection = connect("http://127.0.0.1:1/", {
      signal: AbortSignal.abort(),
      fetch: async () => {
        calls++;
        return new Response(null, { status: 204 });
      },
    });
    expect(await connection.closed).toEqual({ reason: "aborted" });
    expect(connection.readyState).toBe(2);
    expect(calls).toBe(0);
  });

  test("connect uses an injected fetch: a handler's response, with no network", async () => {
    const seen: (string | null)[] = [];
    const connection = connect("http://app.test/events", {
      retry: 0,
      fetch: async (input, init) => {
        const request = new Request(input, init);
        seen.push(request.headers.get("last-event-id"));
        if (seen.length === 3) return new Response(null, { status: 204 });
        const { response, target } = sendEvents(request);
        // An id on an event without data still moves the position, as EventSource's does.
        if (seen.length === 1) target.dispatchMessage("first", { id: "a" });
        else target.dispatchComment("no data");
        void target.close();
        return response;
      },
    });
    const data: string[] = [];
    connection.addEventListener("message", (event) => data.push(event.data));
    expect(await connection.closed).toEqual({ reason: "done", status: 204 });
    expect(data).toEqual(["first"]);
    expect(seen).toEqual([null, "a", "a"]);
  });

  test("connect ends with an error when a type's data does not parse, rather than skip it", async () => {
    const connection = connect<{ price: number }>("http://app.test/", {
      parse: { price: "json" },
      fetch: async () =>
        new Response(
          "event: price\ndata: 42\n\nevent: price\ndata: forty-two\n\nevent: price\ndata: 43\n\n",
          {
            headers: { "content-type": "text/event-stream; charset=utf-8" },
          },
        ),
    });
    const prices: number[] = [];
    connection.addEventListener("price", (event) => prices.push(event.data));
    const end = await connection.closed;
    expect(end).toMatchObject({ reason: "error", status: 200 });
    expect(end.error).toBeInstanceOf(TypeError);
    expect(prices).toEqual([42]);
  });

  test("connect rejects caller mistakes with a TypeError or RangeError naming the value", () => {
    // @ts-expect-error: a URL is needed
    expect(() => connect(42)).toThrow(
      new TypeError("Cannot connect: the URL must be a string or URL, received 42"),
    );
    expect(() => connect("http://[")).toThrow(TypeError);
    expect(() => connect("http://a.test/", { body: new ReadableStream() as never })).toThrow(
      /cannot be a ReadableStream/,
    );
    expect(() => connect("http://a.test/", { retry: -1 })).toThrow(
      new RangeError(
        'Cannot connect: "retry" must be an integer from 0 to 2147483647, received -1',
      ),
    );
    expect(() => connect("http://a.test/", { maxRetryDelay: 1.5 })).toThrow(RangeError);
    // A timer's longest delay: past it, setTimeout fires after 1 ms and reconnects would spin.
    expect(() => connect("http://a.test/", { retry: 2 ** 31 })).toThrow(
      /"retry" must be an integer from 0 to 2147483647, received 2147483648/,
    );
    expect(() => connect("http://a.test/", { maxRetryDelay: 1e12 })).toThrow(RangeError);
    expect(() => connect("http://a.test/", { maxRetries: -1 })).toThrow(
      new RangeError(
        'Cannot connect: "maxRetries" must be a non-negative integer, or Infinity, received -1',
      ),
    );
    // @ts-expect-error: not a signal
    expect(() => connect("http://a.test/", { signal: "stop" })).toThrow(TypeError);
    // @ts-expect-error: not a fetch
    expect(() => connect("http://a.test/", { fetch: "fetch" })).toThrow(TypeError);
    // @ts-expect-error: connections come from connect()
    expect(() => new EventConnection()).toThrow(TypeError);
  });

  test("connect refuses reconnect() once closed, and a second loop", () => {
    const connection = connect("http://a.test/", { fetch: () => new Promise(() => {}) });
    connection[Symbol.asyncIterator]();
    expect(() => connection[Symbol.asyncIterator]()).toThrow(/already started/);
    connection.close();
    expect(() => connection.reconnect()).toThrow(/closed for good/);
  });
});
