/**
 * One request and its response on the Node adapter: the handler runs when the response is next
 * on its connection, and its answer goes out one of two ways: an event stream that `sendEvents`
 * made for this request is written directly (`socket-sink.ts`); any other response (an event
 * stream rebuilt by middleware too) is piped from its body, with backpressure.
 *
 * @module
 */

import type * as http from "node:http";
import { streamOf } from "../../src/_internal/access.ts";
import { noop } from "../../src/_internal/noop.ts";
import { targetOf } from "../../src/_internal/response-target.ts";
import type { ServerSentEventTarget } from "../../src/server-sent-event-target.ts";
import type { StreamGroup } from "../../src/stream-group.ts";
import type { FetchHandler, NodeRequest, NodeResponse } from "../node.ts";
import { directStream } from "./event-stream-response.ts";
import {
  type IncomingRequest,
  incomingRequest,
  type Refusal,
  RequestState,
} from "./incoming-request.ts";
import { whenCurrent } from "./pipelining.ts";
import { droppedHeaders, keepHead, nodeHeaders, streamHead, writeHead } from "./response-head.ts";
import { abortResponse, DiscardSink, SocketSink, writeWatched } from "./socket-sink.ts";
import { type SendWatch, watchEventStream } from "./watch-event-stream.ts";

/** What every request of one listener shares. */
export interface ListenerConfig {
  handler: FetchHandler;
  sendTimeout: number | false;
  streams: StreamGroup | undefined;
  onError: (error: unknown, request: Request) => Response | Promise<Response>;
}

/**
 * One request and its response: a class rather than closures, which cost more per request. It is
 * the request's `RequestState` too (one object per request: an idle stream keeps it for life).
 */
export class Exchange extends RequestState {
  readonly #config: ListenerConfig;
  readonly #res: NodeResponse;
  #watch: SendWatch | undefined;
  /** The event stream being sent, if the response is one. */
  #sent: ServerSentEventTarget | undefined;

  constructor(config: ListenerConfig, req: NodeRequest, res: NodeResponse) {
    super(req);
    this.#config = config;
    this.#res = res;
  }

  /** Runs the handler once the response may be sent: see `pipelining.ts`. */
  run(): void {
    whenCurrent(this.req, this.#res, () => this.#start());
  }

  #start(): void {
    const res = this.#res;
    const request = incomingRequest(this.req, this);
    if (typeof request === "number") {
      refuse(this.req, res, request);
      return;
    }
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
    if (!this.#res.writableEnded) this.leave();
    this.abandon(this.#sent, false);
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
    const req = this.req;
    const res = this.#res;
    const direct = directStream(response);
    const target = direct?.target ?? targetOf(response);
    this.#sent = target;
    // The handler's answer is known: the event streams it made and did not return go now.
    this.abandon(target, true);
    if (res.destroyed) {
      if (direct === undefined) return response.body?.cancel().catch(noop);
      streamOf(direct.target).leave();
      return undefined;
    }
    const isHttp2 = req.httpVersionMajor >= 2;
    const drop = droppedHeaders(req, res, target !== undefined);
    const sink =
      direct === undefined || req.method === "HEAD"
        ? undefined
        : new SocketSink(res, streamOf(direct.target));
    if (target !== undefined) {
      const { streams, sendTimeout } = this.#config;
      this.#watch = watchEventStream(res, target, streams, sendTimeout, sink);
    }
    if (direct !== undefined) {
      const head = streamHead(direct.headers, drop);
      writeHead(res, 200, "", head as Record<string, string | string[]>, isHttp2);
      keepHead(res);
      if (req.method === "HEAD") {
        // The headers, then the end: the stream ends with reason "server", and `close` listeners
        // added in the handler hear it.
        res.end();
        void direct.target.close();
        const stream = streamOf(direct.target);
        stream.attach(new DiscardSink(stream));
      } else sink!.start();
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
    this.abandon(undefined, false);
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
