/**
 * How a stream learns that its client left from the request's `signal`. Every runtime we test
 * but workerd cancels the body when the client leaves, which ends the stream sooner; the signal is
 * for the rest. Reading `signal` is not free everywhere (@hono/node-server builds a whole
 * `Request` for it, which cost more than the rest of a connection), so a stream binds it at its
 * first keep-alive tick, not when it opens: a stream that lasts less than a tick never pays, and
 * a later one still sees a signal aborted meanwhile.
 *
 * @module
 */

/** A request's signal; `undefined` if it has none, or reading it fails. */
export function signalOf(request: Request): AbortSignal | undefined {
  try {
    return request.signal ?? undefined;
  } catch {
    return undefined;
  }
}

/**
 * Calls `leave` once `signal` aborts (soon, but not synchronously, if it has already: a `close`
 * listener added right after `sendEvents()` must still hear it). Returns what stops the watch,
 * or `undefined` when there is nothing to stop.
 */
export function onAbort(
  signal: AbortSignal | undefined,
  leave: () => void,
): (() => void) | undefined {
  if (signal === undefined) return undefined;
  if (signal.aborted) {
    queueMicrotask(leave);
    return undefined;
  }
  const listener = (): void => leave();
  signal.addEventListener("abort", listener, { once: true });
  return () => signal.removeEventListener("abort", listener);
}
