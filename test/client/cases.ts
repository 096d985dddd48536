/**
 * The client's cases against a real server of `test/client/app.js`, written once: each runtime's
 * file in `test/client/` launches the server and calls {@linkcode clientCases}.
 *
 * @module
 */
import { expect, test } from "vitest";
import {
  type ConnectionErrorEvent,
  connect,
  type DataEvent,
  type EventConnection,
  type StaleData,
} from "../../src/client/index.ts";

/** What the app logs of each request made with `?key=`. */
interface LoggedRequest {
  method: string;
  lastEventId: string | null;
  authorization: string | null;
  body: string;
}

interface FeedEvents {
  hello: Record<string, never>;
  tick: { n: number };
}

let keys = 0;
/** A key no other case uses, for the app's request log. */
function uniqueKey(name: string): string {
  return `${name}-${process.pid}-${++keys}`;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Defines the client's cases for one runtime (inside a `describe.concurrent`).
 *
 * @param runtime Starts every test name.
 * @param base The running server's base URL (called once it is up).
 * @param disconnectWithin Milliseconds within which the server must see a client that left.
 */
export function clientCases(runtime: string, base: () => URL, disconnectWithin = 1_000): void {
  const url = (path: string): URL => new URL(path, base());
  const requests = async (key: string): Promise<LoggedRequest[]> =>
    (await fetch(url(`/client/requests?key=${key}`))).json() as Promise<LoggedRequest[]>;

  test(`${runtime}: connect resumes through a Channel after each server drop, with no loss and no duplicate, sending Last-Event-ID every time`, async () => {
    const key = uniqueKey("feed");
    const connection = connect<FeedEvents>(url(`/client/feed?room=${key}&drop=150&key=${key}`), {
      parse: { hello: "json", tick: "json" },
      maxRetryDelay: 1_000,
    });
    const sent: string[] = [];
    connection.addEventListener("open", () => sent.push(connection.lastEventId));
    const ticks: { n: number; id: string | undefined }[] = [];
    for await (const event of connection) {
      if (event.type === "tick") ticks.push({ n: event.data.n, id: event.id });
      if (sent.length >= 4 && ticks.length >= 30) break;
    }
    expect(await connection.closed).toMatchObject({ reason: "closed" });
    const numbers = ticks.map((tick) => tick.n);
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
    expect(new Set(ticks.map((tick) => tick.id)).size).toBe(ticks.length);
    // Each reconnect sent the id of the last tick before the drop, and the server saw it.
    const log = await requests(key);
    expect(log.map((request) => request.lastEventId ?? "")).toEqual(sent.slice(0, log.length));
    expect(log.length).toBeGreaterThanOrEqual(4);
    // Every reconnect had ticks to replay: the server broadcast three before registering.
    expect(ticks.length).toBeGreaterThan(0);
    for (const id of sent.slice(1)) expect(id).not.toBe("");
  });

  test(`${runtime}: connect raises a Channel's stale event when its Last-Event-ID cannot be resumed, then goes live`, async () => {
    const connection = connect<FeedEvents>(url(`/client/feed?room=${uniqueKey("stale")}`), {
      parse: { hello: "json", tick: "json" },
      lastEventId: "not-an-id-of-this-store",
    });
    const stale = new Promise<DataEvent<StaleData>>((resolve) =>
      connection.addEventListener("stale", resolve, { once: true }),
    );
    const types: string[] = [];
    for await (const event of connection) {
      types.push(event.type);
      if (event.type === "stale") expect(event.data).toEqual({ reason: "unknown" });
      if (event.type === "tick") break;
    }
    expect(types).toEqual(["hello", "stale", "tick"]);
    expect((await stale).data).toEqual({ reason: "unknown" });
  });

  test(`${runtime}: connect waits the server's retry (with at most a quarter more jitter) and sends the last id on every reconnect`, async () => {
    const key = uniqueKey("retry");
    const connection = connect(url(`/client/retry?ms=40&key=${key}`));
    const waits: (number | undefined)[] = [];
    connection.addEventListener("error", (event) => waits.push(event.retryIn));
    const data: string[] = [];
    for await (const event of connection) {
      // Without an event map, data is text; only a Channel's stale event would be an object.
      if (typeof event.data === "string") data.push(event.data);
      if (data.length === 3) break;
    }
    expect(data).toEqual(["attempt 1", "attempt 2", "attempt 3"]);
    expect(waits).toHaveLength(2);
    for (const wait of waits) {
      expect(wait).toBeGreaterThanOrEqual(40);
      expect(wait).toBeLessThanOrEqual(50);
    }
    const log = await requests(key);
    expect(log.slice(0, 3).map((request) => request.lastEventId)).toEqual([null, "1", "2"]);
  });

  test(`${runtime}: connect stops for good on 204, after one reconnect with the last id`, async () => {
    const key = uniqueKey("done");
    const connection = connect<{ result: { ok: boolean } }>(url(`/client/done?key=${key}`), {
      parse: { result: "json" },
    });
    const events = [];
    for await (const event of connection) events.push(event);
    expect(events.map(({ type, data, id }) => ({ type, data, id }))).toEqual([
      { type: "result", data: { ok: true }, id: "1" },
    ]);
    expect(await connection.closed).toEqual({ reason: "done", status: 204 });
    expect(connection.readyState).toBe(2);
    await delay(100); // ten reconnection times: none is attempted
    expect((await requests(key)).map((request) => request.lastEventId)).toEqual([null, "1"]);
  });

  test(`${runtime}: aborting the signal ends the connection, and the server sees the client leave`, async () => {
    const id = `client-abort-${process.pid}-${++keys}`;
    const controller = new AbortController();
    const connection = connect(url(`/silent?id=${id}`), { signal: controller.signal });
    await new Promise((resolve) => connection.addEventListener("open", resolve, { once: true }));
    controller.abort();
    expect(await connection.closed).toEqual({ reason: "aborted", status: 200 });
    await expect
      .poll(async () => (await (await fetch(url(`/stats?id=${id}`))).json()) as { state: string }, {
        timeout: disconnectWithin + 5_000,
        interval: 100,
      })
      .toMatchObject({ state: "closed", reason: "client", closes: 1 });
  });

  test(`${runtime}: aborting during the wait for a reconnect cancels it: no further request`, async () => {
    const key = uniqueKey("abort-wait");
    const controller = new AbortController();
    const connection = connect(url(`/client/retry?ms=60000&key=${key}`), {
      signal: controller.signal,
    });
    const error = await new Promise<ConnectionErrorEvent>((resolve) =>
      connection.addEventListener("error", resolve, { once: true }),
    );
    expect(error.retryIn).toBe(30_000); // the server's 60 s, capped by maxRetryDelay
    controller.abort();
    expect(await connection.closed).toMatchObject({ reason: "aborted" });
    expect(await requests(key)).toHaveLength(1);
  });

  test(`${runtime}: a POST token stream, with a body and Authorization, resumes after a drop and ends on 204`, async () => {
    const key = uniqueKey("tokens");
    const prompt = "Server-Sent Events are plain HTTP, so a POST can stream tokens too";
    const connection: EventConnection<{ token: string; done: { tokens: number } }> = connect(
      url(`/client/tokens?key=${key}`),
      {
        method: "POST",
        headers: { authorization: "Bearer secret", "content-type": "application/json" },
        body: JSON.stringify({ prompt }),
        parse: { done: "json" },
      },
    );
    let text = "";
    const ids: (string | undefined)[] = [];
    for await (const event of connection) {
      if (event.type === "token") {
        text += event.data;
        ids.push(event.id);
      } else if (event.type === "done") {
        expect(event.data.tokens).toBe(prompt.split(" ").length);
        break;
      }
    }
    expect(text).toBe(prompt);
    expect(ids).toEqual(prompt.split(" ").map((_, i) => String(i + 1)));
    const log = await requests(key);
    expect(log).toEqual([
      {
        method: "POST",
        lastEventId: null,
        authorization: "Bearer secret",
        body: JSON.stringify({ prompt }),
      },
      {
        method: "POST",
        lastEventId: "3",
        authorization: "Bearer secret",
        body: JSON.stringify({ prompt }),
      },
    ]);
  });
}
