/**
 * What `sendEvents(request, options)` does: reads the request, makes the target, and answers with
 * the fetch path's body or the response of the adapter that made the request. Adapters that know
 * more of the connection than its request says (`sendevents/hono` on `@hono/node-server` over
 * HTTP/2) call it with that knowledge.
 *
 * @module
 */

import type { SendEventsOptions } from "../send-events.ts";
import { ServerSentEventTarget } from "../server-sent-event-target.ts";
import { CONSTRUCT, streamOf, type TargetConstructor } from "./access.ts";
import { adapterOf } from "./adapter-hook.ts";
import { readableFor } from "./body-source.ts";
import { checkInteger, MAX_DELAY } from "./check-integer.ts";
import { parseLastEventId } from "./last-event-id.ts";
import { bindTarget } from "./response-target.ts";
import {
  asksToClose,
  type ConnectionUse,
  defaultStreamHeaders,
  streamHeaders,
} from "./stream-headers.ts";

/**
 * `sendEvents`. `use` says how the connection is used when the caller knows better than the
 * request's headers (see `stream-headers.ts`); by default the adapter that made the request
 * tells, or else the request's `Connection` header.
 */
export function openStream(
  request: Request,
  options: SendEventsOptions,
  use: ConnectionUse | undefined,
): { response: Response; target: ServerSentEventTarget } {
  const adapter = request !== null && typeof request === "object" ? adapterOf(request) : undefined;
  if (adapter === undefined && typeof request?.headers?.get !== "function") {
    throw new TypeError(`Cannot send events: expected a Request, received ${String(request)}`);
  }
  if (options.waitUntil !== undefined && typeof options.waitUntil !== "function") {
    throw new TypeError(
      `Cannot send events: "waitUntil" must be a function, received ${typeof options.waitUntil}`,
    );
  }
  const { maxDuration } = options;
  if (maxDuration !== undefined) {
    checkInteger("Cannot send events", "maxDuration", maxDuration, 1, MAX_DELAY);
  }
  // RFC 9112 §9.6: a client that asks to close gets no `Connection: Keep-Alive`, which would make
  // a server such as node:http keep the connection open after the stream ends.
  const connection =
    use ??
    adapter?.connection(request) ??
    (asksToClose(request.headers.get("connection")) ? "close" : "keep-alive");
  // Built before the target, so malformed headers throw with nothing opened. Without extra
  // headers, the shared defaults are copied (or an adapter has them ready-made).
  const headers =
    options.headers !== undefined ? streamHeaders(options.headers, connection) : undefined;
  const rawLastEventId = adapter
    ? adapter.header(request, "last-event-id")
    : request.headers.get("last-event-id");
  const lastEventId = parseLastEventId(rawLastEventId);
  const target = new (ServerSentEventTarget as unknown as TargetConstructor)(CONSTRUCT, {
    ...options,
    lastEventId,
    // Sent, but not an id we could have sent (too long, CR, LF, NUL): a channel answers `stale`.
    lastEventIdRejected: lastEventId === "" && rawLastEventId !== null && rawLastEventId !== "",
  });
  const stream = streamOf(target);
  let response: Response;
  try {
    if (adapter !== undefined) {
      response = adapter.respond(request, target, headers, connection);
    } else {
      const body = readableFor(stream);
      bindTarget(body, target);
      response = new Response(body, {
        status: 200,
        headers: headers ?? defaultStreamHeaders(connection),
      });
      stream.watchRequest(request);
      // The headers are a HEAD's whole answer, and runtimes drop its body without reading it: end
      // the stream with reason "server" once the handler has had the chance to listen for `close`.
      if (request.method === "HEAD") queueMicrotask(() => stream.leave("server"));
    }
    if (maxDuration !== undefined) closeAfter(target, maxDuration);
    if (options.waitUntil !== undefined) options.waitUntil(stream.ended);
  } catch (error) {
    // Nobody will ever hold this target (an adapter or the platform's waitUntil threw): end it
    // now rather than leave its keep-alive and timers running until its body is collected.
    target.abort(error);
    throw error;
  }
  return { response, target };
}

/** Closes `target` cleanly once `ms` have passed; the timer goes when the stream ends sooner. */
function closeAfter(target: ServerSentEventTarget, ms: number): void {
  const timer = setTimeout(() => {
    void target.close();
  }, ms);
  // An end hook, not a `close` listener: the stream's own bookkeeping, with no event to raise.
  streamOf(target).onEnd(() => clearTimeout(timer));
}
