import { checkInteger, MAX_DELAY } from "../_internal/check-integer.ts";
import { describe } from "../_internal/describe.ts";
import {
  type EventOf,
  type OptionsArgument,
  type ReadEventsOptions,
  readEvents,
  type TextEvents,
} from "./read-events.ts";

/** Options for {@linkcode collectEvents}: when to stop, besides the end of the stream. */
export type CollectEventsOptions<Events extends object = TextEvents> = ReadEventsOptions<Events> & {
  /** Stop after this many events. */
  count?: number;
  /** Stop after the first event for which this returns `true` (that event included). */
  until?: (event: EventOf<Events>) => boolean;
  /** Stop after this many milliseconds, with the events that came by then. */
  timeout?: number;
};

/**
 * Reads events from a response until the stream ends, `count` events have come, `until` says
 * so, or `timeout` ms have passed, whichever is first; then cancels the body (so the handler sees
 * the client leave) and returns the events. Made for tests of an app's handler: call it with the
 * handler's `Response`, on any runtime, and assert on the array.
 *
 * @typeParam Events The server's event map, as for {@linkcode readEvents}.
 * @param response The handler's or `fetch`'s response, or its body.
 * @param options `count`, `until`, `timeout`, and `parse` and `signal` as for `readEvents`.
 * @returns The events read, in order; fewer than `count` if the stream ended or time ran out.
 * @throws {TypeError} If `response` is not a readable response or stream, or `until` is not a
 *   function. The body's error, or a parser's, rejects the promise.
 * @throws {RangeError} If `count` or `timeout` is not a non-negative integer.
 *
 * @example Test a handler in one line
 * ```ts
 * import { sendEvents } from "sendevents";
 * import { collectEvents } from "sendevents/client";
 *
 * function handler(request: Request): Response {
 *   const { response, target } = sendEvents(request);
 *   target.dispatchMessage("hello");
 *   void target.close();
 *   return response;
 * }
 * const events = await collectEvents(handler(new Request("http://localhost/")));
 * console.assert(events[0]?.data === "hello");
 * ```
 */
export async function collectEvents<Events extends object = TextEvents>(
  response: Response | ReadableStream<Uint8Array>,
  ...[options]: OptionsArgument<Events, CollectEventsOptions<Events>>
): Promise<EventOf<Events>[]> {
  const action = "Cannot collect events";
  const count =
    options?.count === undefined ? undefined : checkInteger(action, "count", options.count, 0);
  const timeout =
    options?.timeout === undefined
      ? undefined
      : checkInteger(action, "timeout", options.timeout, 0, MAX_DELAY);
  const until = options?.until;
  if (until !== undefined && typeof until !== "function") {
    throw new TypeError(
      `Cannot collect events: "until" must be a function, received ${describe(until)}`,
    );
  }
  const controller = new AbortController();
  const outer = options?.signal;
  const readOptions = { ...options, signal: controller.signal } as ReadEventsOptions<Events>;
  const events = readEvents<Events>(
    response,
    ...([readOptions] as OptionsArgument<Events, ReadEventsOptions<Events>>),
  );
  const stop = (): void => controller.abort();
  let timer: ReturnType<typeof setTimeout> | undefined;
  if (timeout !== undefined) timer = setTimeout(stop, timeout);
  outer?.addEventListener("abort", stop, { once: true });
  if (outer?.aborted) stop();
  const collected: EventOf<Events>[] = [];
  try {
    if (count === 0) return collected;
    for await (const event of events) {
      collected.push(event);
      if (collected.length === count || until?.(event) === true) break;
    }
    return collected;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener("abort", stop);
    await events.return?.();
  }
}
