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

/** The `Request.prototype.signal` getter, which only a real `Request` passes. */
const SIGNAL: ((this: Request) => AbortSignal) | undefined =
  typeof Request === "function"
    ? Object.getOwnPropertyDescriptor(Request.prototype, "signal")?.get
    : undefined;

/**
 * A request's signal; `undefined` if it has none, or reading it fails.
 *
 * A stand-in that passes for a `Request` (`instanceof`) without being one (`@hono/node-server`'s,
 * which makes a real one on demand) gets no watch: reading its `signal` would build a whole `Request` and keep
 * it, with its URL, headers and two controllers, for the stream's whole life (5 KB of heap per idle
 * stream, measured), and the server behind such a stand-in cancels the body when the client
 * leaves, which ends the stream anyway. Other objects (a test's `{ headers, signal }`) are read
 * as they are.
 */
export function signalOf(request: Request): AbortSignal | undefined {
  try {
    // A stand-in fails the getter's brand check: it throws (Deno, Bun), or finds no signal in the
    // stand-in's internals (undici, which checks the prototype only). A real `Request`, or a
    // subclass's, is then read as usual.
    if (SIGNAL !== undefined && request instanceof Request && SIGNAL.call(request) == null) {
      return undefined;
    }
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
