import type { EventOptions } from "./web-types.ts";

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
  /** Why the stream ended. */
  reason: CloseReason;
  /** The error behind a `"error"` close, if there was one. */
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
 * const { response, target } = sendEvents(new Request("http://localhost/"));
 * const timer = setInterval(() => target.dispatchMessage(Date.now()), 1000);
 * target.addEventListener("close", (event) => {
 *   clearInterval(timer);
 *   console.log("stream ended:", event.reason); // "client"
 * });
 * await response.body?.cancel(); // as a client that leaves
 * ```
 */
export class StreamCloseEvent extends Event {
  /** Why the stream ended. */
  readonly reason: CloseReason;
  /** The error behind a `"error"` close, if there was one. */
  readonly error: unknown;

  /**
   * Creates the event; a target raises it, applications only read it.
   *
   * @param type `"close"`.
   * @param init The reason, and the error for `"error"`.
   */
  constructor(type: "close", init: StreamCloseEventInit) {
    super(type, init);
    this.reason = init.reason;
    this.error = init.error;
  }
}
