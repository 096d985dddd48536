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
import { noop } from "../src/_internal/noop.ts";
import { type CloseAllOptions, type CloseAllResult, StreamGroup } from "../src/stream-group.ts";
import { Exchange, type ListenerConfig } from "./_node/exchange.ts";
import { checkSendTimeout } from "./_node/watch-event-stream.ts";

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
