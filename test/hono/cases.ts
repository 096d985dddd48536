// The Hono cases, written once and run against the app in ./app.ts on every runtime: the runtime
// matrix (test/runtimes/matrix.ts) serves the app on each Hono target and calls honoCases.
import { EventSource } from "eventsource";
import { afterAll, expect, test } from "vitest";
import { delay, parse, readUntil } from "../helpers/stream.ts";
import { TOKEN } from "./app.ts";

/** The server of ./app.ts under test. */
export interface HonoTarget {
  /** The target's name: it starts every test name. */
  runtime: string;
  /** The running server's base URL (called once the server is up, in each test). */
  url(): URL;
}

let keys = 0;
function key(): string {
  return `k${++keys}-${Date.now()}`;
}

/** Polls /closes/:key until the stream with that key has closed; returns the close reasons. */
async function closeReasons(base: URL, id: string, timeoutMs = 15_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const reasons = (await (await fetch(new URL(`/closes/${id}`, base))).json()) as string[] | null;
    if (reasons !== null && reasons.length > 0) return reasons;
    if (Date.now() > deadline) throw new Error(`The stream ${id} did not close: ${reasons}`);
    await delay(50);
  }
}

/** Reads a body to its end, or to its error; returns the text and how it ended. */
async function drain(response: Response): Promise<{ text: string; errored: boolean }> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return { text, errored: false };
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    return { text, errored: true };
  }
}

/** Reads `{ at }` ticks as they arrive; returns each one's delay from dispatch to arrival. */
async function tickLatencies(
  response: Response,
): Promise<{ latencies: number[]; arrivals: number[] }> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  const latencies: number[] = [];
  const arrivals: number[] = [];
  let buffer = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { latencies, arrivals };
    const now = Date.now();
    buffer += decoder.decode(value, { stream: true });
    const end = buffer.lastIndexOf("\n\n");
    if (end === -1) continue;
    for (const event of parse(buffer.slice(0, end + 2)).events) {
      latencies.push(now - (JSON.parse(event.data) as { at: number }).at);
      arrivals.push(now);
    }
    buffer = buffer.slice(end + 2);
  }
}

/** Defines the Hono cases, inside a `describe` whose hooks serve the app (the cases run in order). */
export function honoCases(target: HonoTarget): void {
  const { runtime } = target;
  const sources: EventSource[] = [];
  const url = (path: string): URL => new URL(path, target.url());
  afterAll(() => {
    for (const source of sources) source.close();
  });

  test(`${runtime}: an EventSource gets the messages and ids, and the stream stays open`, async () => {
    const id = key();
    const source = new EventSource(String(url(`/messages?n=3&key=${id}`)));
    sources.push(source);
    const received: string[] = [];
    await new Promise<void>((resolve, reject) => {
      source.onmessage = (event) => {
        received.push(`${event.data}#${event.lastEventId}`);
        if (received.length === 3) resolve();
      };
      source.onerror = () => reject(new Error("EventSource failed"));
    });
    expect(received).toEqual(["m0#0", "m1#1", "m2#2"]);
    // The callback returned long ago; the stream is still open.
    await delay(100);
    expect(await (await fetch(url(`/closes/${id}`))).json()).toEqual([]);
    source.close();
    expect(await closeReasons(target.url(), id)).toEqual(["client"]);
  });

  test(`${runtime}: target.close() ends the response and fires close with reason server`, async () => {
    const id = key();
    const response = await fetch(url(`/messages?n=2&close&key=${id}`));
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    const { text, errored } = await drain(response);
    expect(errored).toBe(false);
    expect(parse(text).events.map((e) => e.data)).toEqual(["m0", "m1"]);
    expect(await closeReasons(target.url(), id)).toEqual(["server"]);
  });

  test(`${runtime}: a client that leaves fires close with reason client`, async () => {
    const id = key();
    const abort = new AbortController();
    const response = await fetch(url(`/ticks?key=${id}`), { signal: abort.signal });
    const reader = response.body!.getReader();
    await reader.read();
    abort.abort();
    await reader.cancel().catch(() => {});
    expect(await closeReasons(target.url(), id)).toEqual(["client"]);
  });

  test(`${runtime}: compress delivers each event as it is dispatched`, async () => {
    for (const path of ["/compressed", "/compressed-forced"]) {
      const response = await fetch(url(path), { headers: { "Accept-Encoding": "gzip" } });
      expect(response.headers.get("content-encoding"), path).toBe(null);
      const { latencies, arrivals } = await tickLatencies(response);
      console.log(`${runtime} ${path}: dispatch-to-arrival ms ${JSON.stringify(latencies)}`);
      expect(latencies).toHaveLength(5);
      // Dispatched 100 ms apart: they arrived one by one, each long before the stream ended.
      expect(arrivals[4]! - arrivals[0]!, path).toBeGreaterThanOrEqual(300);
      for (const latency of latencies) expect(latency, path).toBeLessThan(1000);
    }
  });

  test(`${runtime}: a request bearerAuth rejects gets 401 and opens no stream`, async () => {
    const rejected = await fetch(url("/auth"), { headers: { Authorization: "Bearer nope" } });
    expect(rejected.status).toBe(401);
    expect(rejected.headers.get("content-type")).not.toBe("text/event-stream");
    await rejected.text();
    expect(await (await fetch(url("/opened"))).json()).toEqual({ opened: 0 });
    const accepted = await fetch(url("/auth"), { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(accepted.status).toBe(200);
    expect(parse((await drain(accepted)).text).events.map((e) => e.data)).toEqual(["welcome"]);
    expect(await (await fetch(url("/opened"))).json()).toEqual({ opened: 1 });
  });

  test(`${runtime}: an error thrown by the handler reaches app.onError`, async () => {
    const response = await fetch(url("/throw"));
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("onError: thrown before streaming");
  });

  test(`${runtime}: a later rejection closes the stream with reason error, leaks nothing and the server goes on`, async () => {
    const id = key();
    const response = await fetch(url(`/reject?key=${id}`));
    expect(response.status).toBe(200);
    const { text } = await drain(response);
    expect(text).toContain("data: about to fail");
    expect(text).not.toContain("secret");
    expect(await closeReasons(target.url(), id)).toEqual(["error"]);
    const again = await fetch(url("/messages?n=1&close"));
    expect(parse((await drain(again)).text).events.map((e) => e.data)).toEqual(["m0"]);
  });

  test(`${runtime}: cors headers reach the event stream`, async () => {
    const response = await fetch(url("/cors/sse"), {
      headers: { Origin: "https://example.com" },
    });
    expect(response.headers.get("access-control-allow-origin")).toBe("https://example.com");
    expect(parse((await drain(response)).text).events).toHaveLength(2);
  });

  test(`${runtime}: the serverSentEvents middleware streams from c.var.sendEvents`, async () => {
    const id = key();
    const abort = new AbortController();
    const response = await fetch(url(`/middleware?key=${id}`), { signal: abort.signal });
    const reader = response.body!.getReader();
    const text = await readUntil(reader, (sofar) => sofar.endsWith("c.var.sendEvents\n\n"));
    expect(parse(text).events.map((e) => e.data)).toEqual(["from c.var.sendEvents"]);
    abort.abort();
    await reader.cancel().catch(() => {});
    expect(await closeReasons(target.url(), id)).toEqual(["client"]);
  });
}
