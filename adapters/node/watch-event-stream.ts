/**
 * What the Node adapter does for every event stream it serves, besides writing it: tracks it in
 * the server's {@linkcode StreamGroup} (so `shutdown()` reaches it) and gives up on a client that
 * takes nothing for `sendTimeout` milliseconds.
 *
 * @module
 */
import type * as http from "node:http";
import type * as http2 from "node:http2";
import type { ServerSentEventTarget } from "../../src/server-sent-event-target.js";
import type { StreamGroup } from "../../src/stream-group.js";

/**
 * The default `sendTimeout`: one interval of the default `keepAlive`, so that a stuck client is
 * closed within two intervals of the last byte that moved.
 */
export const DEFAULT_SEND_TIMEOUT = 5_000;

/** Checks a `sendTimeout` option. */
export function checkSendTimeout(value: unknown): number | false {
  if (value === undefined) return DEFAULT_SEND_TIMEOUT;
  if (value === false) return false;
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot create listener: "sendTimeout" must be a positive integer or false, received ${String(value)}`,
    );
  }
  return value;
}

/**
 * Tracks `target` in `streams` and arms the send timeout on its connection.
 *
 * Node raises `timeout` once the connection has moved no byte for `sendTimeout` ms; a write that
 * made headway since the timer was armed postpones it once more, and every write re-arms it. So a
 * stuck connection is noticed between one and two `sendTimeout`s after its last byte moved. An idle stream reaches it too (the
 * keep-alive comes later), which is fine: only a stream with bytes waiting is deemed stuck. So a
 * client that stopped reading, or vanished without FIN or RST while events flow, is noticed once
 * the kernel's buffers are full and nothing has moved for `sendTimeout`; the connection is then
 * destroyed and the target closes with reason `"client"`.
 */
export function watchEventStream(
  res: http.ServerResponse | http2.Http2ServerResponse,
  target: ServerSentEventTarget,
  streams: StreamGroup | undefined,
  sendTimeout: number | false,
): void {
  streams?.track(target);
  if (sendTimeout === false) return;
  res.setTimeout(sendTimeout, () => {
    // Only bytes that Node could not hand to the kernel say the client is stuck. Bytes still in
    // the target may have been queued in this very turn (the keep-alive timer fires in the same
    // timers phase as this one) and leave on the next pull: an idle stream must never be cut.
    const unsent = (res as { writableLength?: number }).writableLength ?? 0;
    if (unsent > 0) res.destroy();
  });
}
