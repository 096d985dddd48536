/**
 * The client side of the conformance suite: real clients over 127.0.0.1 (`node:http`, `fetch`,
 * the `eventsource` package) and the example app's `/stats` endpoint.
 *
 * @module
 */
import * as http from "node:http";
import { EventSource } from "eventsource";

/** What the example app's `/stats?id=…` says about one stream. */
export interface StreamStats {
  state: "open" | "closed" | "unknown";
  reason: string | null;
  closes: number;
  ticks: number;
  /** The server's `Date.now()` when the stream closed. */
  closedAt: number | null;
}

/** Reads `/stats?id=…` from the server at `base`. */
export async function stats(base: URL, id: string): Promise<StreamStats> {
  const response = await fetch(new URL(`/stats?id=${encodeURIComponent(id)}`, base));
  if (!response.ok) throw new Error(`GET /stats answered ${response.status}`);
  return (await response.json()) as StreamStats;
}

/**
 * Polls `/stats?id=…` every `interval` ms until `predicate` holds, and resolves with the stats
 * and the time it took; rejects after `timeout` ms with the last stats seen.
 */
export async function pollStats(
  base: URL,
  id: string,
  predicate: (stats: StreamStats) => boolean,
  { timeout = 10_000, interval = 10 } = {},
): Promise<{ stats: StreamStats; elapsed: number }> {
  const start = performance.now();
  let last: StreamStats | undefined;
  for (;;) {
    last = await stats(base, id);
    const elapsed = performance.now() - start;
    if (predicate(last)) return { stats: last, elapsed };
    if (elapsed > timeout) {
      throw new Error(`/stats?id=${id} still ${JSON.stringify(last)} after ${timeout} ms`);
    }
    await delay(interval);
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A unique stream id for `/stats`. */
export function uniqueId(label: string): string {
  return `${label}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

/** An open `node:http` GET whose first body bytes have arrived, and a way to hang up. */
export interface RawStream {
  /** The response status and headers. */
  response: http.IncomingMessage;
  /** The body text received so far. */
  text(): string;
  /** Resolves once the body text so far satisfies `predicate`; rejects if the body ends first. */
  until(predicate: (text: string) => boolean, timeout?: number): Promise<string>;
  /** Resolves when the server ends the body (`complete` tells whether it ended cleanly). */
  ended: Promise<{ complete: boolean }>;
  /** Hangs up: destroys the socket at once, as a client that leaves does. */
  destroy(): void;
}

/**
 * Opens a GET with `node:http` (no agent, so the socket is the request's own) and resolves once
 * the headers and the first body bytes have arrived.
 */
export function openRaw(url: URL): Promise<RawStream> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent: false }, (response) => {
      response.setEncoding("utf8");
      let text = "";
      const waiters = new Set<() => void>();
      const ended = new Promise<{ complete: boolean }>((resolveEnd) => {
        response.once("end", () => resolveEnd({ complete: response.complete }));
        response.once("close", () => resolveEnd({ complete: response.complete }));
        response.once("error", () => resolveEnd({ complete: false }));
      });
      let isEnded = false;
      void ended.then(() => {
        isEnded = true;
        for (const waiter of waiters) waiter();
      });
      response.on("data", (chunk: string) => {
        text += chunk;
        for (const waiter of waiters) waiter();
      });
      const stream: RawStream = {
        response,
        text: () => text,
        until(predicate, timeout = 10_000) {
          return new Promise((resolveUntil, rejectUntil) => {
            const timer = setTimeout(() => {
              waiters.delete(check);
              rejectUntil(new Error(`Timed out waiting on the body; got ${JSON.stringify(text)}`));
            }, timeout);
            function check(): void {
              if (predicate(text)) {
                clearTimeout(timer);
                waiters.delete(check);
                resolveUntil(text);
              } else if (isEnded) {
                clearTimeout(timer);
                waiters.delete(check);
                rejectUntil(new Error(`The body ended first; got ${JSON.stringify(text)}`));
              }
            }
            waiters.add(check);
            check();
          });
        },
        ended,
        destroy: () => request.destroy(),
      };
      response.once("data", () => resolve(stream));
    });
    request.once("error", reject);
  });
}

/** An `EventSource` and every event it has received, in order. */
export interface RecordedSource {
  source: EventSource;
  /** `type`, `data` and `lastEventId` of each event received, in order. */
  events: { type: string; data: string; lastEventId: string }[];
  /** Resolves on `open`, with the milliseconds since the `EventSource` was made. */
  opened: Promise<number>;
  /** Resolves when an event of `type` arrives (at once if one already did). */
  next(type: string): Promise<void>;
}

/** Connects an `EventSource` to `url`, recording every event of the given types. */
export function connect(url: URL, types: string[] = ["message"]): RecordedSource {
  const start = performance.now();
  const source = new EventSource(url.href);
  const events: RecordedSource["events"] = [];
  const waiting = new Map<string, (() => void)[]>();
  for (const type of types) {
    source.addEventListener(type, (event) => {
      events.push({ type, data: event.data, lastEventId: event.lastEventId });
      for (const resolve of waiting.get(type)?.splice(0) ?? []) resolve();
    });
  }
  const opened = new Promise<number>((resolve, reject) => {
    source.addEventListener("open", () => resolve(performance.now() - start), { once: true });
    source.addEventListener(
      "error",
      (event) => reject(new Error(`EventSource failed before open: ${event.message ?? "error"}`)),
      { once: true },
    );
  });
  // A test that does not wait for `open` must not leave an unhandled rejection behind.
  opened.catch(() => {});
  return {
    source,
    events,
    opened,
    next(type) {
      if (events.some((event) => event.type === type)) return Promise.resolve();
      return new Promise((resolve) => {
        const list = waiting.get(type) ?? [];
        list.push(resolve);
        waiting.set(type, list);
      });
    },
  };
}
