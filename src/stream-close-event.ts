import type { EventOptions } from "./web-types.js";

/**
 * Why a stream ended:
 * - `"server"`: `target.close()` was called and everything queued was handed to the runtime;
 * - `"client"`: the client left (the request was aborted, the body was cancelled or a write failed);
 * - `"overflow"`: the client read too slowly and the queue passed `maxBufferedAmount`;
 * - `"error"`: the stream failed on the server side (a source that threw, a runtime error).
 */
export type CloseReason = "server" | "client" | "overflow" | "error";

/** Options for {@linkcode StreamCloseEvent}. */
export interface StreamCloseEventInit extends EventOptions {
  reason: CloseReason;
  error?: unknown;
}

/**
 * The `close` event of a {@linkcode ServerSentEventTarget}: raised exactly once, however the
 * stream ended, after the target's `signal` has been aborted.
 *
 * @example Clean up when the stream ends
 * ```ts
 * import { sendEvents } from "sendevents";
 *
 * const { target } = sendEvents(new Request("http://localhost/"));
 * const timer = setInterval(() => target.dispatchMessage(Date.now()), 1000);
 * target.addEventListener("close", (event) => {
 *   clearInterval(timer);
 *   console.log("stream ended:", event.reason);
 * });
 * await target.close();
 * ```
 */
export class StreamCloseEvent extends Event {
  /** Why the stream ended. */
  readonly reason: CloseReason;
  /** The error behind a `"error"` close, if there was one. */
  readonly error: unknown;

  constructor(type: "close", init: StreamCloseEventInit) {
    super(type, init);
    this.reason = init.reason;
    this.error = init.error;
  }
}
