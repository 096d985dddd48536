import { openStream } from "./_internal/open-stream.ts";
import type {
  ServerSentEventTarget,
  ServerSentEventTargetOptions,
} from "./server-sent-event-target.ts";
import type { HeadersInit } from "./web-types.ts";

/** Options for {@linkcode sendEvents}. */
export interface SendEventsOptions extends ServerSentEventTargetOptions {
  /**
   * Extra response headers. A header named here replaces the default of the same name
   * (`Cache-Control`, say); the others are added.
   */
  headers?: HeadersInit;
  /**
   * The platform's way to keep working after the response is returned. Cloudflare Workers stop a
   * request's timers once the handler returns unless the work is registered: pass
   * `ctx.waitUntil.bind(ctx)` there, and the stream's end is registered, so keep-alives run and
   * `close` fires.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
  /**
   * Milliseconds after which the stream is closed cleanly (`close()`, reason `"server"`), so it
   * ends on our terms before a platform cuts it (Vercel functions at 300 s, for example). The
   * client reconnects with its `Last-Event-ID`. No limit by default.
   */
  maxDuration?: number;
}

/** What {@linkcode sendEvents} returns. */
export interface SendEventsResult<Events extends object> {
  /** A `200` streaming response: return it from the handler. */
  response: Response;
  /** Dispatch events on it to send them. */
  target: ServerSentEventTarget<Events>;
}

/**
 * Answers a request with an event stream: returns a streaming `Response` and the
 * {@linkcode ServerSentEventTarget} that feeds it.
 *
 * The response's headers reach the client at once, before any event (the body opens with a
 * comment, which clients ignore). When the client leaves, `close` fires on the target: most
 * runtimes cancel the body at once; where one does not (Workers), the request's `signal` tells,
 * watched from the first keep-alive tick on, because reading it is not free on every server.
 *
 * @param request The incoming request. Its `Last-Event-ID` becomes `target.lastEventId`; its
 *   `signal` tells when the client leaves, where the runtime does not cancel the body.
 * @param options Extra headers, keep-alive interval, queue bounds, `waitUntil`.
 * @returns The response to return and the target to dispatch on.
 * @throws {TypeError} If `request` is not a `Request` or `options.headers` is malformed.
 * @throws {RangeError} If `keepAlive`, `highWaterMark`, `maxBufferedAmount` or `maxDuration` is
 *   out of range.
 *
 * @example A fetch handler that sends a message and a named event
 * ```ts
 * import { sendEvents, ServerSentEvent } from "sendevents";
 *
 * export default {
 *   fetch(request: Request): Response {
 *     const { response, target } = sendEvents(request);
 *     target.dispatchMessage({ hello: "world" });
 *     target.dispatchEvent(new ServerSentEvent("ping", { at: Date.now() }, { id: 1 }));
 *     return response;
 *   },
 * };
 * ```
 */
export function sendEvents<Events extends object = Record<string, unknown>>(
  request: Request,
  options: SendEventsOptions = {},
): SendEventsResult<Events> {
  const { response, target } = openStream(request, options, undefined);
  return { response, target: target as unknown as ServerSentEventTarget<Events> };
}
