import { counters } from "./_internal/counters.ts";
import type { CloseReason } from "./stream-close-event.ts";

/**
 * Counters over every event stream of this process (of this isolate, on Workers): read them, log
 * them or export them to a metrics system. They only grow, except `open` and `queuedBytes`, which
 * are gauges.
 */
export interface StreamMetrics {
  /** Streams open now. */
  readonly open: number;
  /** Streams opened since the process started. */
  readonly opened: number;
  /** Events, comments and `retry:` hints accepted for sending (keep-alive comments are not counted). */
  readonly eventsSent: number;
  /** Bytes handed to the runtime, keep-alives and `retry:` hints included. */
  readonly bytesSent: number;
  /**
   * Bytes dispatched but not yet taken by the runtime, over all open streams. Text dispatched
   * since a stream's last hand-over counts one byte per UTF-16 code unit until the stream counts
   * it (to place it against its bounds, or to hand it over): exact for ASCII, and exact for
   * everything once counted. (A target's own `bufferedAmount` is always exact.)
   */
  readonly queuedBytes: number;
  /**
   * Dispatches refused: `dispatch*` called on a stream that had ended, or an event that would
   * have passed `maxBufferedAmount` (which also closes that stream with `"overflow"`).
   */
  readonly drops: number;
  /**
   * Streams ended, by the reason their `close` event carried. `closes.overflow` counts the slow
   * clients evicted because their queue passed `maxBufferedAmount`.
   */
  readonly closes: Readonly<Record<CloseReason, number>>;
}

/**
 * Live counters over every event stream of this process: open streams, events and bytes sent,
 * bytes queued, refused dispatches and closes by reason. The object is updated in place; read its
 * fields whenever you need them, or `JSON.stringify` it for a snapshot.
 *
 * @example Export the counters on a metrics endpoint
 * ```ts
 * import { metrics } from "sendevents";
 *
 * function handler(request: Request): Response {
 *   if (new URL(request.url).pathname === "/metrics") {
 *     return Response.json(metrics);
 *   }
 *   return new Response("Not found", { status: 404 });
 * }
 * ```
 *
 * @example Log the open streams and the evicted slow clients every minute
 * ```ts
 * import { metrics } from "sendevents";
 *
 * setInterval(() => {
 *   console.log(`streams: ${metrics.open} open, ${metrics.closes.overflow} evicted`);
 * }, 60_000);
 * ```
 */
export const metrics: StreamMetrics = readOnlyView(counters, {
  closes: readOnlyView(counters.closes, {}),
});

/**
 * A frozen object whose enumerable getters read `source`'s fields (so `JSON.stringify` and
 * spreading see the live values), with `nested` views in place of object fields. The counters
 * themselves are never handed out: code that writes to `metrics` (an exporter resetting them
 * after a scrape) or freezes it can neither skew them nor make a stream's bookkeeping throw.
 */
function readOnlyView<T extends object>(source: T, nested: Partial<Record<keyof T, object>>): T {
  const view = {};
  for (const key of Object.keys(source) as (keyof T & string)[]) {
    const inner = nested[key];
    Object.defineProperty(
      view,
      key,
      inner === undefined
        ? { get: () => source[key], enumerable: true }
        : { value: inner, enumerable: true },
    );
  }
  return Object.freeze(view) as T;
}
