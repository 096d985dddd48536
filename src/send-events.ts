import { adapterOf } from "./adapter-request.ts";
import { checkInteger, MAX_DELAY } from "./check-integer.ts";
import { parseLastEventId } from "./last-event-id.ts";
import {
  internals,
  type ServerSentEventTarget,
  type ServerSentEventTargetOptions,
} from "./server-sent-event-target.ts";
import { bindBody } from "./stream-group.ts";
import type { HeadersInit } from "./web-types.ts";

/**
 * The headers every event stream is sent with, as oak defines them, plus `X-Accel-Buffering: no`,
 * which stops nginx from buffering the stream. `Connection` and `Keep-Alive` are HTTP/1.1 only:
 * HTTP/2 and HTTP/3 forbid them, and the Node adapter drops them there.
 */
export const DEFAULT_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  connection: "Keep-Alive",
  "keep-alive": "timeout=9007199254740991",
  "x-accel-buffering": "no",
});

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
  // Built before the target, so malformed headers throw with nothing opened. Without extra
  // headers, an adapter has the defaults ready-made, and a Response copies them from one shared
  // Headers (faster than from a record on every runtime we measured: 3× on Bun).
  const headers = options.headers !== undefined ? responseHeaders(options.headers) : undefined;
  const rawLastEventId = adapter
    ? adapter.header(request, "last-event-id")
    : request.headers.get("last-event-id");
  const lastEventId = parseLastEventId(rawLastEventId);
  const target = internals.create({
    ...options,
    lastEventId,
    // Sent, but not an id we could have sent (too long, CR, LF, NUL): a channel answers `stale`.
    lastEventIdRejected: lastEventId === "" && rawLastEventId !== null && rawLastEventId !== "",
  });
  let response: Response;
  try {
    if (adapter !== undefined) {
      response = adapter.respond(request, target, headers);
    } else {
      const body = internals.readable(target);
      bindBody(body, target);
      // RFC 9112 §9.6: a client that asks to close gets no `Connection: Keep-Alive`, which would make
      // a server such as node:http keep the connection open after the stream ends.
      const closing = asksToClose(request.headers.get("connection"));
      if (closing && headers !== undefined) dropKeepAlive(headers, options.headers!);
      response = new Response(body, {
        status: 200,
        headers: headers ?? (closing ? sharedClosingHeaders() : sharedDefaultHeaders()),
      });
      internals.watchRequest(target, request);
      // The headers are a HEAD's whole answer, and runtimes drop its body without reading it: end
      // the stream with reason "server" once the handler has had the chance to listen for `close`.
      if (request.method === "HEAD") queueMicrotask(() => internals.discard(target));
    }
    if (maxDuration !== undefined) closeAfter(target, maxDuration);
    if (options.waitUntil !== undefined) options.waitUntil(internals.closed(target));
  } catch (error) {
    // Nobody will ever hold this target (an adapter or the platform's waitUntil threw): end it
    // now rather than leave its keep-alive and timers running until its body is collected.
    void internals.end(target, "error", error);
    throw error;
  }
  return { response, target: target as unknown as ServerSentEventTarget<Events> };
}

/**
 * The response headers of an event stream: the defaults, with the caller's headers over them (a
 * caller header replaces the default of the same name; `Set-Cookie` headers are all kept).
 *
 * @internal Used by sendEvents and adapters.
 * @throws {TypeError} If `extra` is malformed.
 */
export function responseHeaders(extra: HeadersInit | undefined): Headers {
  const headers = new Headers(DEFAULT_HEADERS);
  if (extra !== undefined) {
    const own = new Headers(extra);
    for (const name of new Set(own.keys())) {
      if (name === "set-cookie") {
        headers.delete(name);
        for (const cookie of own.getSetCookie()) headers.append(name, cookie);
      } else {
        headers.set(name, own.get(name)!);
      }
    }
  }
  return headers;
}

let defaultHeaders: Headers | undefined;

/**
 * One `Headers` with the defaults, for `new Response` to copy: never handed out, so never changed.
 * Made on first use, so that importing the module builds nothing.
 */
function sharedDefaultHeaders(): Headers {
  defaultHeaders ??= responseHeaders(undefined);
  return defaultHeaders;
}

let closingHeaders: Headers | undefined;

/** {@linkcode sharedDefaultHeaders} for a request that asks to close its connection. */
function sharedClosingHeaders(): Headers {
  if (closingHeaders === undefined) {
    closingHeaders = responseHeaders(undefined);
    closingHeaders.delete("connection");
    closingHeaders.delete("keep-alive");
  }
  return closingHeaders;
}

/** Drops the default `Connection` and `Keep-Alive` from `headers`, unless the caller set them. */
function dropKeepAlive(headers: Headers, extra: HeadersInit): void {
  const own = new Headers(extra);
  if (!own.has("connection")) headers.delete("connection");
  if (!own.has("keep-alive")) headers.delete("keep-alive");
}

/**
 * Whether a request's `Connection` header holds the `close` option (RFC 9112 §9.6).
 *
 * @internal Shared with adapters.
 */
export function asksToClose(connection: string | null | undefined): boolean {
  if (connection === null || connection === undefined) return false;
  for (const option of connection.split(",")) {
    if (option.trim().toLowerCase() === "close") return true;
  }
  return false;
}

/** Closes `target` cleanly once `ms` have passed; the timer goes when the stream ends sooner. */
function closeAfter(target: ServerSentEventTarget, ms: number): void {
  const timer = setTimeout(() => {
    void target.close();
  }, ms);
  // An end hook, not a `close` listener: the stream's own bookkeeping, with no event to raise.
  internals.onEnd(target, () => clearTimeout(timer));
}
