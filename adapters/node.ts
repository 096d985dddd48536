/**
 * Serves a fetch handler (`(request: Request) => Response`) from `node:http` or `node:http2`,
 * streaming response bodies as they are produced and turning a client that leaves into an aborted
 * `request.signal` and a cancelled body, so a {@linkcode ServerSentEventTarget} fires `close`.
 *
 * @example Serve an event stream on port 8000
 * ```ts
 * import { sendEvents } from "sendevents";
 * import { serve } from "sendevents/node";
 *
 * const server = await serve((request) => {
 *   const { response, target } = sendEvents(request);
 *   target.dispatchMessage("hello");
 *   return response;
 * }, { port: 8000 });
 * console.log(`listening on ${server.url}`);
 * ```
 *
 * @module
 */
import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { DEFAULT_HEADERS } from "../src/send-events.ts";
import type { ServerSentEventTarget } from "../src/server-sent-event-target.ts";
import { internals, type TargetSink } from "../src/server-sent-event-target.ts";
import {
  type CloseAllOptions,
  type CloseAllResult,
  StreamGroup,
  targetOf,
} from "../src/stream-group.ts";
import { directStream } from "./node/event-stream-response.ts";
import {
  type IncomingRequest,
  incomingRequest,
  type Refusal,
  type RequestState,
  requestState,
} from "./node/incoming-request.ts";
import { whenCurrent } from "./node/pipelining.ts";
import { checkSendTimeout, type SendWatch, watchEventStream } from "./node/watch-event-stream.ts";

/** A fetch handler, as Deno, Bun and Workers call it. */
export type FetchHandler = (request: Request) => Response | Promise<Response>;

/** A request from either server. */
export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;
/** A response from either server. */
export type NodeResponse = http.ServerResponse | http2.Http2ServerResponse;

/** Options for {@linkcode createListener}. */
export interface ListenerOptions {
  /**
   * Turns an error thrown by the handler into a response. By default the error is logged with
   * `console.error` and the client gets a bare `500`.
   */
  onError?: (error: unknown, request: Request) => Response | Promise<Response>;
  /**
   * Tracks every event stream served in this group, so `streams.closeAll()` ends them all.
   * {@linkcode serve} makes one of its own when none is given.
   */
  streams?: StreamGroup;
  /**
   * Milliseconds an event stream's connection may move no byte while bytes wait to be sent
   * before the client is deemed gone (it stopped reading, or vanished without closing): the
   * connection is destroyed and the target closes with reason `"client"`. Node notices it between
   * one and two timeouts after the last byte moved. An idle stream is never cut: only one with
   * bytes waiting. `false` turns it off.
   * @default 5000
   */
  sendTimeout?: number | false;
}

/** Options for {@linkcode serve}. */
export interface ServeOptions extends ListenerOptions {
  /** The port; `0` (the default) picks a free one. */
  port?: number;
  /** The address to bind; loopback by default. */
  hostname?: string;
  /**
   * Serve HTTP/2: `true` for cleartext HTTP/2 (h2c, prior knowledge), or the `key` and `cert`
   * of a TLS server, which also answers HTTP/1.1 clients through ALPN.
   */
  http2?: boolean | { key: string | Buffer; cert: string | Buffer };
}

/** A running server from {@linkcode serve}. */
export interface NodeServer {
  /** The underlying Node server. */
  readonly server: http.Server | http2.Http2Server | http2.Http2SecureServer;
  /** The bound port. */
  readonly port: number;
  /** The server's base URL, such as `http://127.0.0.1:8000/`. */
  readonly url: URL;
  /** The event streams being served: `streams.size` is how many are open. */
  readonly streams: StreamGroup;
  /** Stops accepting connections, ends the open ones and resolves once the server is closed. */
  close(): Promise<void>;
  /**
   * Shuts down gracefully (for `SIGTERM` and deploys): stops accepting connections, sends every
   * open event stream a final `retry:` with jitter and closes it (see `StreamGroup.closeAll`),
   * then closes the server. Resolves once all that is done, or the deadline has passed.
   *
   * @throws {RangeError} If an option is not a non-negative integer.
   */
  shutdown(options?: CloseAllOptions): Promise<CloseAllResult>;
}

/**
 * Header fields that describe one HTTP/1.1 connection. RFC 9113 §8.2.2 forbids them in HTTP/2,
 * where Node throws `ERR_HTTP2_INVALID_CONNECTION_HEADERS` if a response carries them.
 */
const CONNECTION_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/**
 * The header fields dropped from a response on a connection that ends with it (the client sent
 * `Connection: close`, or HTTP/1.0 without keep-alive): Node then writes `Connection: close` itself
 * and closes the socket once the response has ended (RFC 9112 §9.6). A `Connection: Keep-Alive`
 * from the handler (an event stream's default) would make Node keep it open instead.
 */
const KEEP_ALIVE_HEADERS: ReadonlySet<string> = new Set(["connection", "keep-alive"]);

function noop(): void {}

const EMPTY = new Uint8Array(0);

/** Node's form of `headers`, without the header fields in `drop`. */
function nodeHeaders(
  headers: Headers,
  drop: ReadonlySet<string> | undefined,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    if (drop?.has(name)) continue;
    if (name === "set-cookie") out[name] = headers.getSetCookie();
    else out[name] = value;
  }
  return out;
}

/** An event stream's default headers in Node's form, made once for each set of dropped fields. */
const DEFAULT_NODE_HEADERS = {
  http1: Object.freeze(nodeHeaders(new Headers(DEFAULT_HEADERS), undefined)),
  http2: Object.freeze(nodeHeaders(new Headers(DEFAULT_HEADERS), CONNECTION_HEADERS)),
  close: Object.freeze(nodeHeaders(new Headers(DEFAULT_HEADERS), KEEP_ALIVE_HEADERS)),
};

/**
 * The header fields to drop from a response to `req`: HTTP/1.1's connection headers over HTTP/2;
 * `Connection` and `Keep-Alive` when the connection ends with this response. An event stream has
 * no length, so over HTTP/1.0 (no chunked coding) only the end of the connection ends it.
 */
function droppedHeaders(
  req: NodeRequest,
  res: NodeResponse,
  stream: boolean,
): ReadonlySet<string> | undefined {
  if (req.httpVersionMajor >= 2) return CONNECTION_HEADERS;
  if ((res as http.ServerResponse).shouldKeepAlive === false) return KEEP_ALIVE_HEADERS;
  if (stream && req.httpVersionMinor === 0) return KEEP_ALIVE_HEADERS;
  return undefined;
}

function writeHead(
  res: NodeResponse,
  status: number,
  statusText: string,
  headers: Record<string, string | string[]>,
  isHttp2: boolean,
): void {
  // HTTP/2 has no reason phrase; Node warns if one is given.
  if (isHttp2) (res as http2.Http2ServerResponse).writeHead(status, headers);
  else (res as http.ServerResponse).writeHead(status, statusText || undefined, headers);
}

/**
 * Writes an event stream's target straight to the response: no web stream between them. Events
 * dispatched in one turn of the event loop leave in one write; when the socket's buffer is full,
 * the target keeps them (so `ready` and `maxBufferedAmount` see them) until `drain`.
 */
class SocketSink implements TargetSink {
  readonly #res: NodeResponse;
  readonly #target: ServerSentEventTarget;
  readonly #watch: SendWatch | undefined;
  #attached = false;
  #scheduled = false;
  #blocked = false;
  #wrote = false;

  constructor(res: NodeResponse, target: ServerSentEventTarget, watch: SendWatch | undefined) {
    this.#res = res;
    this.#target = target;
    this.#watch = watch;
  }

  /** Starts draining: the head and everything dispatched so far leave together, in one write. */
  start(): void {
    internals.attach(this.#target, this);
    this.#attached = true;
    internals.pull(this.#target);
  }

  wake(): void {
    if (this.#attached && !this.#scheduled && !this.#blocked) {
      this.#scheduled = true;
      setImmediate(SocketSink.#pull, this);
    }
  }

  write(chunk: Uint8Array): void {
    this.#wrote = true;
    if (!writeWatched(this.#res, chunk, this.#watch)) {
      this.#blocked = true;
      this.#res.once("drain", () => {
        this.#blocked = false;
        internals.pull(this.#target);
      });
    }
  }

  end(): void {
    this.#res.end();
  }

  abort(): void {
    const res = this.#res;
    // The stream failed before its first write (an overflow while the handler ran): send the head
    // first, so the client sees a stream that broke, as after any later overflow, not silence.
    if (!this.#wrote) {
      const h2 = res as http2.Http2ServerResponse;
      if (h2.stream !== undefined) {
        // Node 22 (22.23) drops the HEADERS frame of a stream reset in the same turn: reset it
        // once an empty write after the head has been handed over.
        h2.write(EMPTY, () => abortResponse(res));
        return;
      }
      (res as http.ServerResponse).flushHeaders();
    }
    // Ending normally would tell the client all is well: abort the connection instead.
    abortResponse(res);
  }

  leave(): void {}

  static #pull(sink: SocketSink): void {
    sink.#scheduled = false;
    if (!sink.#blocked) internals.pull(sink.#target);
  }
}

/**
 * A HEAD request's event stream: it has sent its headers and will send nothing else. Takes what
 * the target queued and drops it, so that `close()` completes at once with reason `"server"`.
 */
class DiscardSink implements TargetSink {
  readonly #target: ServerSentEventTarget;

  constructor(target: ServerSentEventTarget) {
    this.#target = target;
  }

  wake(): void {
    internals.pull(this.#target);
  }

  write(): void {}
  end(): void {}
  abort(): void {}
  leave(): void {}
}

/** An event stream's head, in Node's form. */
function streamHead(
  headers: Headers | undefined,
  drop: ReadonlySet<string> | undefined,
): Readonly<Record<string, string | string[]>> {
  if (headers !== undefined) return nodeHeaders(headers, drop);
  if (drop === undefined) return DEFAULT_NODE_HEADERS.http1;
  return drop === CONNECTION_HEADERS ? DEFAULT_NODE_HEADERS.http2 : DEFAULT_NODE_HEADERS.close;
}

/**
 * Writes `chunk` to `res`. With a send watch, adds what the write added to Node's unsent bytes
 * (the head and chunk framing included), so that the watch compares like with like.
 */
function writeWatched(res: NodeResponse, chunk: Uint8Array, watch: SendWatch | undefined): boolean {
  const out = res as http.ServerResponse;
  if (watch === undefined) return out.write(chunk);
  const before = out.writableLength;
  const more = out.write(chunk);
  watch.written += out.writableLength - before;
  return more;
}

/**
 * Ends `res` abruptly, so that the client sees a failed response, not a complete one: over HTTP/1
 * the connection is destroyed (no last chunk); over HTTP/2 the stream is reset with
 * `INTERNAL_ERROR`. (`destroy()` resets an HTTP/2 stream with `NO_ERROR`, which a client may take
 * for a normal end.)
 */
function abortResponse(res: NodeResponse): void {
  const stream = (res as http2.Http2ServerResponse).stream as http2.ServerHttp2Stream | undefined;
  if (stream !== undefined) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  else res.destroy();
}

/** Waits until `res` can take more data, or has closed. Removes both listeners either way. */
function drained(res: NodeResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

async function pipeBody(
  body: ReadableStream<Uint8Array>,
  res: NodeResponse,
  watch: SendWatch | undefined,
): Promise<void> {
  const reader = body.getReader();
  const onClose = (): void => {
    // The client left or the socket failed: cancelling the body tells its source.
    if (!res.writableEnded) reader.cancel().catch(noop);
  };
  res.once("close", onClose);
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (res.destroyed) return;
      if (!writeWatched(res, value, watch)) await drained(res);
    }
    if (!res.destroyed) res.end();
  } catch {
    // The body errored (for an event stream: a client too slow, closed with "overflow"). Ending
    // the response normally would tell the client all is well: abort the connection instead.
    if (!res.destroyed) abortResponse(res);
  } finally {
    res.off("close", onClose);
  }
}

/**
 * Makes a `(req, res)` listener for an existing `node:http` or `node:http2` server from a fetch
 * handler.
 *
 * The handler gets a real `Request` (it works with `new Request(request)` and `fetch(request)`),
 * whose `url` is what `new Request` makes of the target and `Host` (or `:scheme` and
 * `:authority`); a request that cannot make one unambiguous URL is answered `400` (and `TRACE`,
 * `TRACK`, `CONNECT` `501`) without running the handler.
 *
 * Response bodies are streamed chunk by chunk with backpressure. When the client leaves, the
 * request's `signal` aborts and the response body is cancelled. Over HTTP/2, headers that are
 * only valid in HTTP/1.1 (`Connection`, `Keep-Alive`, `Transfer-Encoding`, ...) are dropped; over
 * HTTP/1, so are `Connection` and `Keep-Alive` when the client asked to close the connection
 * (`Connection: close`, or HTTP/1.0), which then closes once the response has ended.
 *
 * Event streams: a `HEAD` request gets the stream's headers and no body, and its target ends with
 * reason `"server"` right after the handler returns (so `close` listeners added in the handler
 * hear it). A target `sendEvents(request)` made that the handler did not return (it answered
 * something else, or threw) ends with reason `"error"`. A stream that failed before its head was
 * written (an overflow in the handler) sends the head, then aborts the connection.
 *
 * Pipelined HTTP/1.1 requests are answered in order, each handler running when its response is
 * next on the connection; a connection that queues more than 32 behind the one being answered
 * is destroyed.
 *
 * @param handler The fetch handler.
 * @param options `onError`, called when the handler throws.
 * @returns A listener for `server.on("request", listener)`.
 *
 * @example Add an event stream to an existing server
 * ```ts
 * import { createServer } from "node:http";
 * import { sendEvents } from "sendevents";
 * import { createListener } from "sendevents/node";
 *
 * const listener = createListener((request) => sendEvents(request).response);
 * createServer(listener).listen(8000, "127.0.0.1");
 * ```
 */
export function createListener(
  handler: FetchHandler,
  options: ListenerOptions = {},
): (req: NodeRequest, res: NodeResponse) => void {
  if (typeof handler !== "function") {
    throw new TypeError(
      `Cannot create listener: the handler must be a function, received ${typeof handler}`,
    );
  }
  const config: ListenerConfig = {
    handler,
    sendTimeout: checkSendTimeout(options.sendTimeout),
    streams: options.streams,
    onError:
      options.onError ??
      ((error: unknown) => {
        console.error(error);
        return new Response(null, { status: 500 });
      }),
  };
  return (req, res) => new Exchange(config, req, res).run();
}

/** What every request of one listener shares. */
interface ListenerConfig {
  handler: FetchHandler;
  sendTimeout: number | false;
  streams: StreamGroup | undefined;
  onError: (error: unknown, request: Request) => Response | Promise<Response>;
}

/** One request and its response: a class rather than closures, which cost more per request. */
class Exchange {
  readonly #config: ListenerConfig;
  readonly #req: NodeRequest;
  readonly #res: NodeResponse;
  /** Not the `Request` itself: an event stream outlives it (see `RequestState`). */
  #state!: RequestState;
  #watch: SendWatch | undefined;
  /** The event stream being sent, if the response is one. */
  #sent: ServerSentEventTarget | undefined;

  constructor(config: ListenerConfig, req: NodeRequest, res: NodeResponse) {
    this.#config = config;
    this.#req = req;
    this.#res = res;
  }

  /** Runs the handler once the response may be sent: see `node/pipelining.ts`. */
  run(): void {
    whenCurrent(this.#req, this.#res, () => this.#start());
  }

  #start(): void {
    const res = this.#res;
    const request = incomingRequest(this.#req);
    if (typeof request === "number") {
      refuse(this.#req, res, request);
      return;
    }
    this.#state = requestState(request);
    res.on("close", () => this.#closed());
    let result: Response | Promise<Response>;
    try {
      result = this.#config.handler(request);
    } catch (error) {
      result = Promise.reject(error);
    }
    if (typeof (result as Partial<Promise<Response>> | null)?.then === "function") {
      this.#settle(result, request).catch((error: unknown) => this.#fail(error));
      return;
    }
    // A handler that answered at once (an event stream usually does) is sent in this same turn.
    try {
      this.#send(result as Response)?.catch((error: unknown) => this.#fail(error));
    } catch (error) {
      this.#fail(error);
    }
  }

  /**
   * The response closed. If it had not ended, the client left: tell the handler. `writableEnded`,
   * not `writableFinished`: HTTP/2 marks a stream that the client reset as finished. Event streams
   * made for the request and not sent end now, whatever read their bodies.
   */
  #closed(): void {
    this.#watch?.release();
    if (!this.#res.writableEnded) this.#state.leave();
    this.#state.abandon(this.#sent, false);
  }

  async #settle(pending: Response | Promise<Response>, request: IncomingRequest): Promise<void> {
    let response: Response;
    try {
      response = await pending;
    } catch (error) {
      response = await this.#config.onError(error, request);
    }
    await this.#send(response);
  }

  #send(response: Response): Promise<void> | undefined {
    const req = this.#req;
    const res = this.#res;
    const direct = directStream(response);
    const target = direct?.target ?? targetOf(response);
    this.#sent = target;
    // The handler's answer is known: the event streams it made and did not return go now.
    this.#state.abandon(target, true);
    if (res.destroyed) {
      if (direct === undefined) return response.body?.cancel().catch(noop);
      void internals.end(direct.target, "client");
      return undefined;
    }
    const isHttp2 = req.httpVersionMajor >= 2;
    const drop = droppedHeaders(req, res, target !== undefined);
    if (target !== undefined) {
      const { streams, sendTimeout } = this.#config;
      this.#watch = watchEventStream(res, target, streams, sendTimeout);
    }
    if (direct !== undefined) {
      const head = streamHead(direct.headers, drop);
      writeHead(res, 200, "", head as Record<string, string | string[]>, isHttp2);
      if (req.method === "HEAD") {
        // The headers, then the end: the stream ends with reason "server", and `close` listeners
        // added in the handler hear it.
        res.end();
        void direct.target.close();
        internals.attach(direct.target, new DiscardSink(direct.target));
      } else new SocketSink(res, direct.target, this.#watch).start();
      return undefined;
    }
    writeHead(
      res,
      response.status,
      response.statusText,
      nodeHeaders(response.headers, drop),
      isHttp2,
    );
    if (response.body === null) {
      res.end();
      return undefined;
    }
    if (req.method === "HEAD") {
      res.end();
      if (target === undefined) return response.body.cancel().catch(noop);
      // An event stream in a rebuilt response: close it and read what it had queued to the end.
      void target.close();
      return discard(response.body);
    }
    // Send the headers now: an event stream's client waits for them before anything else.
    (res as http.ServerResponse).flushHeaders?.();
    return pipeBody(response.body, res, this.#watch);
  }

  #fail(error: unknown): void {
    console.error(error);
    this.#state.abandon(undefined, false);
    const res = this.#res;
    if (!res.headersSent) {
      res.statusCode = 500;
      res.end();
    } else abortResponse(res);
  }
}

/**
 * Answers a request that cannot be a `Request` with `status`, and no handler runs. Over HTTP/1
 * the connection then closes, as after Node's own `400` for a request it cannot parse.
 */
function refuse(req: NodeRequest, res: NodeResponse, status: Refusal): void {
  if (req.httpVersionMajor < 2) (res as http.ServerResponse).shouldKeepAlive = false;
  res.statusCode = status;
  res.end();
}

/** Reads `body` to its end and drops what it reads. */
async function discard(body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  try {
    while (!(await reader.read()).done) {
      // Nothing to send: a HEAD response has no body.
    }
  } catch {
    // The body failed: there was nothing to send anyway.
  }
}

/**
 * Starts a `node:http` (or `node:http2`) server for a fetch handler.
 *
 * @param handler The fetch handler.
 * @param options Port, address, HTTP/2 and error handling.
 * @returns The running server, once it listens.
 *
 * @example Serve on a free port on loopback
 * ```ts
 * import { sendEvents } from "sendevents";
 * import { serve } from "sendevents/node";
 *
 * const { url, close } = await serve((request) => sendEvents(request).response);
 * console.log(url.href);
 * await close();
 * ```
 */
export async function serve(
  handler: FetchHandler,
  options: ServeOptions = {},
): Promise<NodeServer> {
  const streams = options.streams ?? new StreamGroup();
  const listener = createListener(handler, { ...options, streams });
  const tls = typeof options.http2 === "object" ? options.http2 : undefined;
  const server = tls
    ? http2.createSecureServer({ ...tls, allowHTTP1: true }, listener)
    : options.http2
      ? http2.createServer(listener)
      : http.createServer({ noDelay: true }, listener);
  const sessions = new Set<http2.Http2Session>();
  if (options.http2) {
    server.on("session", (session: http2.Http2Session) => {
      sessions.add(session);
      session.once("close", () => sessions.delete(session));
    });
  }
  const hostname = options.hostname ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, hostname, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = hostname.includes(":") ? `[${hostname}]` : hostname;
  const url = new URL(`${tls ? "https" : "http"}://${host}:${port}/`);
  let closing: Promise<void> | undefined;
  let shuttingDown: Promise<CloseAllResult> | undefined;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      if ("closeAllConnections" in server) server.closeAllConnections();
      for (const session of sessions) session.destroy();
    });
    return closing;
  };
  return {
    server,
    port,
    url,
    streams,
    close,
    shutdown(shutdownOptions) {
      if (shuttingDown !== undefined) return shuttingDown;
      const ended = streams.closeAll(shutdownOptions);
      // No new connections; idle keep-alive connections go now, the streams once they have ended.
      if (server.listening) server.close(noop);
      if ("closeIdleConnections" in server) server.closeIdleConnections();
      shuttingDown = ended.then(async (result) => {
        await close();
        return result;
      });
      return shuttingDown;
    },
  };
}
