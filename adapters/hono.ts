/**
 * Server-Sent Events for Hono: oak's {@linkcode ServerSentEventTarget} in a Hono route, on every
 * runtime Hono runs on (Node through `@hono/node-server`, Deno, Bun, Cloudflare Workers).
 *
 * Two shapes, one behaviour:
 *
 * - {@linkcode events}`(callback)` is a route handler: the callback gets the context and the
 *   target, and the stream is the route's response.
 * - {@linkcode serverSentEvents}`()` is a middleware that puts `c.var.sendEvents()` on the
 *   context, as oak has `ctx.sendEvents()`: call it in the handler when you are ready to stream.
 *
 * Unlike `streamSSE` from `hono/streaming`, the stream does not end when a callback returns: it
 * stays open until `target.close()` or the client leaves, and the target's `close` event fires
 * either way.
 *
 * @example Stream a clock
 * ```ts
 * import { Hono } from "hono";
 * import { events } from "sendevents/hono";
 *
 * const app = new Hono();
 * app.get("/clock", events((c, target) => {
 *   const timer = setInterval(() => target.dispatchMessage({ now: Date.now() }), 1000);
 *   target.addEventListener("close", () => clearInterval(timer));
 * }));
 * export default app;
 * ```
 *
 * @module
 */
import type { Context, Env, Handler, Input, MiddlewareHandler } from "hono";
import { streamOf } from "../src/_internal/access.ts";
import { noop } from "../src/_internal/noop.ts";
import { openStream } from "../src/_internal/open-stream.ts";
import { targetOf } from "../src/_internal/response-target.ts";
import type { SendEventsOptions } from "../src/send-events.ts";
import type { ServerSentEventTarget } from "../src/server-sent-event-target.ts";

/** Options for {@linkcode events} and {@linkcode serverSentEvents}. */
export interface EventsOptions extends SendEventsOptions {
  /**
   * Called when the callback of {@linkcode events} rejects after the response was returned. The
   * stream is then closed with reason `"error"` (the client's `EventSource` reconnects) and nothing
   * of the error reaches the client. By default the error is logged with `console.error`.
   *
   * Errors thrown before the response is returned go to Hono's `app.onError` instead.
   */
  onError?: (error: unknown, c: Context) => void;
}

/** What {@linkcode events} calls with the route's context and its event target. */
export type EventsCallback<
  E extends Env,
  P extends string,
  I extends Input,
  Events extends object,
> = (c: Context<E, P, I>, target: ServerSentEventTarget<Events>) => void | Promise<void>;

/**
 * The function {@linkcode serverSentEvents} puts on the context as `c.var.sendEvents`. The first
 * call makes the route's response an event stream (it sets `c.res`) and returns its target; later
 * calls return the same target.
 */
export type SendEventsFunction = <Events extends object = Record<string, unknown>>(
  options?: SendEventsOptions,
) => ServerSentEventTarget<Events>;

/** The Hono `Env` that {@linkcode serverSentEvents} adds to the routes it runs before. */
export interface ServerSentEventsEnv extends Env {
  /** `c.var.sendEvents()`: opens the route's event stream and returns its target. */
  Variables: { sendEvents: SendEventsFunction };
}

/**
 * `no-transform` on top of the core's `no-cache`: Hono's `compress` skips a response that carries
 * it, and so do proxies. `compress` already skips `text/event-stream` by default (hono >= 4.6.17),
 * but one told to compress it (`contentTypeFilter`, or an older Hono) pipes the stream through a
 * `CompressionStream`, which cannot flush: every event then waits until the stream ends.
 */
const CACHE_CONTROL = "no-cache, no-transform";

/** Cloudflare Workers' `waitUntil`, if this context has one. */
function platformWaitUntil(c: Context): ((promise: Promise<unknown>) => void) | undefined {
  let context: { waitUntil?: unknown } | undefined;
  try {
    // The getter throws where the runtime passed no execution context (Node, Deno, Bun).
    context = c.executionCtx;
  } catch {
    return undefined;
  }
  const waitUntil = context?.waitUntil;
  if (typeof waitUntil !== "function") return undefined;
  return (promise) => waitUntil.call(context, promise);
}

/**
 * Whether the request came over HTTP/2 to `@hono/node-server`, which hands the response's headers
 * to `node:http2` as they are: Node then throws `ERR_HTTP2_INVALID_CONNECTION_HEADERS` on
 * `Keep-Alive` (and drops `Connection` with a warning), so the stream never opens (Node 20-24,
 * @hono/node-server 1.19; honojs/hono#4041 is the same failure for `streamSSE`'s
 * `Transfer-Encoding`). node-server puts its `IncomingMessage` / `Http2ServerRequest` on `c.env`.
 * Deno.serve drops them itself over HTTP/2 (Deno 2.9); the other runtimes were not tried.
 */
function isNodeHttp2(c: Context): boolean {
  const env: unknown = c.env;
  if (env === null || typeof env !== "object" || !("incoming" in env)) return false;
  const incoming = env.incoming as { httpVersionMajor?: unknown } | null | undefined;
  return typeof incoming?.httpVersionMajor === "number" && incoming.httpVersionMajor >= 2;
}

/** The `close` side of a Node request (`IncomingMessage`, `Http2ServerRequest`). */
interface NodeIncoming {
  once(event: "close", listener: () => void): unknown;
  off(event: "close", listener: () => void): unknown;
  readonly destroyed?: boolean;
  /** Set when the request was torn down (its connection reset or closed), not read to its end. */
  readonly errored?: unknown;
  readonly socket?: { readonly destroyed?: boolean } | null;
}

/** The request `@hono/node-server` puts on `c.env.incoming`, if there is one. */
function nodeIncoming(c: Context): NodeIncoming | undefined {
  const env: unknown = c.env;
  if (env === null || typeof env !== "object" || !("incoming" in env)) return undefined;
  const incoming = env.incoming as Partial<NodeIncoming> | null | undefined;
  return typeof incoming?.once === "function" && typeof incoming.off === "function"
    ? (incoming as NodeIncoming)
    : undefined;
}

/**
 * Ends the stream with reason `"client"` once `@hono/node-server`'s request closes. node-server
 * aborts the request's signal when the *response* closes, and a response that node:http queued
 * behind another on the same connection (a pipelined request) never does: its stream would stay
 * open for good once the client left. node:http tears down every request of a connection that goes,
 * queued ones too. A request whose body was read to its end closes as well, with its connection
 * still there: that one is not the client leaving.
 */
function endWithRequest(incoming: NodeIncoming, target: ServerSentEventTarget): void {
  const onClose = (): void => {
    if (incoming.errored == null && incoming.socket?.destroyed !== true) return;
    streamOf(target).leave();
  };
  if (incoming.destroyed === true) {
    // Closed already: decided after the caller's `close` listener is added.
    queueMicrotask(onClose);
    return;
  }
  incoming.once("close", onClose);
  streamOf(target).onEnd(() => incoming.off("close", onClose));
}

/** Opens the stream as the context's response (`c.res`) and returns its target. */
function open<Events extends object>(
  c: Context,
  options: SendEventsOptions,
): ServerSentEventTarget<Events> {
  const headers = new Headers(options.headers);
  if (!headers.has("cache-control")) headers.set("cache-control", CACHE_CONTROL);
  const waitUntil = options.waitUntil ?? platformWaitUntil(c);
  // Over HTTP/2 to @hono/node-server, the stream is made without HTTP/1.1's connection fields.
  const { response, target } = openStream(
    c.req.raw,
    waitUntil === undefined ? { ...options, headers } : { ...options, headers, waitUntil },
    isNodeHttp2(c) ? "http2" : undefined,
  );
  const incoming = nodeIncoming(c);
  if (incoming !== undefined) endWithRequest(incoming, target as ServerSentEventTarget);
  if (c.req.method === "HEAD") {
    // Hono answers HEAD by running the GET route and dropping its body without cancelling it
    // (hono 4.13, hono-base.ts), so nothing would ever end this stream. The headers are the whole
    // answer: end it now with reason "server", after the caller has had the chance to add its
    // `close` listener.
    queueMicrotask(() => streamOf(target).leave("server"));
    adopt(c, new Response(null, response));
  } else {
    adopt(c, response);
  }
  return target as unknown as ServerSentEventTarget<Events>;
}

/**
 * Makes `response` the context's response, keeping the headers middleware and the handler set
 * with `c.header()` so far (CORS, say). Reading `c.res` first turns headers Hono holds aside into a
 * response, which the setter then merges into ours.
 */
function adopt(c: Context, response: Response): void {
  if (c.res !== response) c.res = response;
}

/**
 * Whether `response` is an event stream, ours or one that wraps ours (a handler may pipe the body
 * through a transform): only a response that is not one at all means the stream was not sent.
 */
function isEventStream(response: Response): boolean {
  return response.headers.get("content-type")?.startsWith("text/event-stream") === true;
}

function report(error: unknown, c: Context, options: EventsOptions): void {
  try {
    if (options.onError) options.onError(error, c);
    else console.error(error);
  } catch (secondary) {
    console.error(secondary);
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/**
 * Makes a route handler that answers with an event stream and hands its
 * {@linkcode ServerSentEventTarget} to `callback`.
 *
 * The response is returned as soon as `callback` returns (or returns a promise), so events reach
 * the client as they are dispatched, even from a long-running async callback. The stream stays
 * open until `target.close()` or the client leaves, whatever `callback` does. On Cloudflare Workers
 * the stream's end is registered with `c.executionCtx.waitUntil`, so keep-alives and `close` work
 * after the handler has returned.
 *
 * If `callback` throws, the stream is closed with reason `"error"` and the error goes to Hono's
 * `app.onError`, as from any handler. If the promise it returns rejects later, the stream is closed
 * with reason `"error"` and `options.onError` (by default `console.error`) gets the error; the
 * client only sees the stream end.
 *
 * A `HEAD` request gets the event stream's headers and no body; its target closes at once.
 *
 * @typeParam Events The event map that types the target (see `ServerSentEventTarget`).
 * @typeParam P The route's path, for `c.req.param()`: TypeScript cannot infer it through
 *   `app.get(path, events(callback))`, so name it here (`events<Events, "/rooms/:room">`), or use
 *   {@linkcode serverSentEvents}, whose handler Hono types itself.
 * @typeParam E The app's `Env` (its bindings and variables).
 * @typeParam I The route's validated input.
 * @param callback Gets the context and the target; dispatch on the target to send events.
 * @param options Headers, keep-alive interval, queue bounds, `waitUntil`, `onError`.
 * @returns A Hono handler.
 * @throws {TypeError} If `callback` is not a function.
 *
 * @example Send a message and a named event, then wait for more
 * ```ts
 * import { Hono } from "hono";
 * import { ServerSentEvent } from "sendevents";
 * import { events } from "sendevents/hono";
 *
 * const app = new Hono();
 * app.get("/rooms/:room", events((c, target) => {
 *   target.dispatchMessage({ room: c.req.param("room") });
 *   target.dispatchEvent(new ServerSentEvent("joined", { at: Date.now() }, { id: 1 }));
 * }));
 * ```
 */
export function events<
  Events extends object = Record<string, unknown>,
  // biome-ignore lint/suspicious/noExplicitAny: Hono's own default, so the route decides the type.
  P extends string = any,
  // biome-ignore lint/suspicious/noExplicitAny: Hono's own default, so the route decides the type.
  E extends Env = any,
  I extends Input = Input,
>(
  callback: EventsCallback<E, P, I, Events>,
  options: EventsOptions = {},
): Handler<E, P, I, Response> {
  if (typeof callback !== "function") {
    throw new TypeError(
      `Cannot create events handler: the callback must be a function, received ${typeof callback}`,
    );
  }
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError(
      `Cannot create events handler: "onError" must be a function, received ${typeof options.onError}`,
    );
  }
  const { onError: _, ...streamOptions } = options;
  return function eventsHandler(c: Context<E, P, I>): Response {
    const target = open<Events>(c, streamOptions);
    try {
      const result = callback(c, target);
      // Inside the try: a thenable whose `then` throws (or whose getter does) fails like a throw.
      if (isPromiseLike(result)) {
        result.then(noop, (error: unknown) => {
          if (!target.closed) report(error, c, options);
          target.abort(error);
        });
      }
    } catch (error) {
      target.abort(error);
      throw error;
    }
    // c.res, not the response from open(): it also carries headers the callback set.
    return c.res;
  };
}

/**
 * A middleware that puts `c.var.sendEvents()` on the context: oak's `ctx.sendEvents()` for Hono.
 *
 * Calling `c.var.sendEvents(options?)` makes the route's response an event stream (it sets
 * `c.res`, keeping headers other middleware already set) and returns its
 * {@linkcode ServerSentEventTarget}; the handler then returns `c.res`, or nothing from an async
 * handler. Until it is called the route is an ordinary one: it can still answer `401`, `404` or
 * anything else, and an error thrown goes to `app.onError`.
 *
 * Hono sends the response once the handler returns, so events dispatched before that are sent
 * together then; start long-running work without awaiting it. If the handler throws after opening
 * the stream, the client gets Hono's error response and the target closes with reason `"error"`.
 *
 * `c.var.sendEvents` is typed in the handlers of the same `app.get(path, serverSentEvents(), …)`
 * call and after a chained `app.use(serverSentEvents()).get(…)`; elsewhere type the app with
 * `new Hono<ServerSentEventsEnv>()`.
 *
 * @param options Defaults for every stream opened through it; `c.var.sendEvents(options)`
 *   overrides them per call.
 * @returns A Hono middleware whose `Env` types `c.var.sendEvents`.
 *
 * @example Open the stream only for a known user
 * ```ts
 * import { Hono } from "hono";
 * import { serverSentEvents } from "sendevents/hono";
 *
 * const app = new Hono();
 * app.get("/feed/:user", serverSentEvents(), (c) => {
 *   if (c.req.param("user") !== "ada") return c.text("Unknown user", 404);
 *   const target = c.var.sendEvents();
 *   target.dispatchMessage({ hello: "ada" });
 *   return c.res;
 * });
 * ```
 */
export function serverSentEvents(
  options: EventsOptions = {},
): MiddlewareHandler<ServerSentEventsEnv> {
  const { onError: _, ...defaults } = options;
  return async function serverSentEvents(c, next) {
    let opened: ServerSentEventTarget | undefined;
    const sendEventsFunction = (init?: SendEventsOptions): ServerSentEventTarget => {
      if (opened !== undefined) return opened;
      const target = open<Record<string, unknown>>(
        c,
        init === undefined ? defaults : { ...defaults, ...init },
      );
      opened = target;
      return target;
    };
    c.set("sendEvents", sendEventsFunction as SendEventsFunction);
    await next();
    if (opened === undefined) return;
    if (c.error !== undefined) {
      // The handler threw after opening the stream: Hono answered with its error response, so
      // nobody will read this stream.
      opened.abort(c.error);
      await streamOf(opened).ended;
    } else if (targetOf(c.res) !== opened && !isEventStream(c.res)) {
      // The handler opened the stream, then answered with another response (a 401, say).
      opened.abort(new Error("Event stream closed: the handler answered with another response"));
      await streamOf(opened).ended;
    }
  };
}
