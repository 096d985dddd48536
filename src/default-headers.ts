/**
 * The headers every event stream is sent with, as oak defines them, plus `X-Accel-Buffering: no`,
 * which stops nginx from buffering the stream. A header of the same name in `sendEvents`'
 * `headers` option replaces the default.
 *
 * `Connection` and `Keep-Alive` describe an HTTP/1.1 connection: they are sent only where they
 * hold. A request that asks to close its connection (`Connection: close`, or HTTP/1.0 to the Node
 * adapter) gets neither, so the server closes it once the stream ends (RFC 9112 §9.6); HTTP/2 and
 * HTTP/3 forbid them (RFC 9113 §8.2.2), and the Node adapter and `sendevents/hono` on
 * `@hono/node-server` leave them out there.
 *
 * @example Read the defaults
 * ```ts
 * import { DEFAULT_HEADERS } from "sendevents";
 *
 * console.log(DEFAULT_HEADERS["content-type"]); // "text/event-stream"
 * ```
 */
export const DEFAULT_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  connection: "Keep-Alive",
  "keep-alive": "timeout=9007199254740991",
  "x-accel-buffering": "no",
});
