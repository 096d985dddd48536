/**
 * A Fetch `Request` over a Node request, built lazily: the URL, the `Headers`, the `AbortSignal`
 * and the body stream are made only when the handler asks for them. An event stream's handler
 * usually reads none of them, and a real `Request` costs more than the rest of a connection.
 *
 * It is a `Request` to its handler (`instanceof Request` holds); anything not implemented here is
 * answered by a real `Request`, made on first use.
 *
 * @module
 */

import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Readable } from "node:stream";
import { ADAPTER_REQUEST, type AdapterRequest } from "../../src/adapter-request.js";
import { internals, type ServerSentEventTarget } from "../../src/server-sent-event-target.js";
import { EventStreamResponse, eventStreamTarget, isUnread } from "./event-stream-response.js";
import { inheritLazily } from "./lazy-prototype.js";

/** A request from either server. */
export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

let realOf: (request: IncomingRequest) => Request;
let headerOf: (request: IncomingRequest, name: string) => string | null;
let addStream: (request: IncomingRequest, response: EventStreamResponse) => void;
let leaveRequest: (request: IncomingRequest) => void;
let abandonStreams: (
  request: IncomingRequest,
  sent: ServerSentEventTarget | undefined,
  unreadOnly: boolean,
) => void;

/** Tells `request`'s signal and listeners that the client left before the response ended. */
export function leave(request: IncomingRequest): void {
  leaveRequest(request);
}

/**
 * Ends, with reason `"error"`, the event streams `sendEvents` made for `request` other than
 * `sent` (the one the adapter is sending, if any): the handler answered with another response,
 * so no client will ever read them. With `unreadOnly`, only those whose body nobody has taken:
 * one that is being read may be feeding the response through a transform, and ends with it.
 */
export function abandon(
  request: IncomingRequest,
  sent: ServerSentEventTarget | undefined,
  unreadOnly: boolean,
): void {
  abandonStreams(request, sent, unreadOnly);
}

/** sendEvents' side of the Node adapter: see `src/adapter-request.ts`. */
const NODE_ADAPTER: AdapterRequest = {
  header: (request, name) => headerOf(request as unknown as IncomingRequest, name),
  respond: (request, target, headers) => {
    const response = new EventStreamResponse(target, headers);
    addStream(request as unknown as IncomingRequest, response);
    return response as unknown as Response;
  },
};

/** A `Request` for a Node request, made lazily. */
export class IncomingRequest {
  readonly #req: NodeRequest;
  #url: string | undefined;
  #headers: Headers | undefined;
  #abort: AbortController | undefined;
  #real: Request | undefined;
  #left = false;
  /**
   * The event streams made for this request (almost always one): ended when the client leaves,
   * or when the handler answers with another response.
   */
  #stream: EventStreamResponse | undefined;
  #moreStreams: EventStreamResponse[] | undefined;
  static {
    realOf = (request) => request.#realRequest();
    headerOf = (request, name) => request.#header(name);
    addStream = (request, response) => request.#addStream(response);
    leaveRequest = (request) => request.#leave();
    abandonStreams = (request, sent, unreadOnly) => request.#abandon(sent, unreadOnly);
  }

  /** Marks it as a request this adapter made, for sendEvents. */
  get [ADAPTER_REQUEST](): AdapterRequest {
    return NODE_ADAPTER;
  }

  constructor(req: NodeRequest) {
    this.#req = req;
  }

  get method(): string {
    return this.#req.method ?? "GET";
  }

  get url(): string {
    if (this.#url === undefined) {
      const req = this.#req;
      const isHttp2 = req.httpVersionMajor >= 2;
      const authority =
        (isHttp2 ? (req.headers[":authority"] as string | undefined) : undefined) ??
        req.headers.host ??
        "localhost";
      const scheme = isHttp2
        ? ((req.headers[":scheme"] as string | undefined) ?? "http")
        : (req.socket as { encrypted?: boolean } | null)?.encrypted === true
          ? "https"
          : "http";
      this.#url = `${scheme}://${authority}${req.url ?? "/"}`;
    }
    return this.#url;
  }

  get headers(): Headers {
    if (this.#headers === undefined) {
      const raw = this.#req.rawHeaders;
      const headers = new Headers();
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!;
        if (name.charCodeAt(0) === 58 /* ":" an HTTP/2 pseudo-header */) continue;
        headers.append(name, raw[i + 1]!);
      }
      this.#headers = headers;
    }
    return this.#headers;
  }

  /** Aborted when the client leaves before the response has ended. */
  get signal(): AbortSignal {
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      if (this.#left) this.#abort.abort(clientLeft());
    }
    return this.#abort.signal;
  }

  /** A request header by its lower-case name, without building `Headers`. */
  #header(name: string): string | null {
    const value = this.#req.headers[name];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }

  /** Records an event stream made for this request; ends it (deferred) if the client has left. */
  #addStream(response: EventStreamResponse): void {
    if (this.#left) {
      const target = eventStreamTarget(response);
      queueMicrotask(() => void internals.end(target, "client"));
    } else if (this.#stream === undefined) this.#stream = response;
    else if (this.#moreStreams === undefined) this.#moreStreams = [response];
    else this.#moreStreams.push(response);
  }

  /** The adapter saw the client go: abort the signal and end the streams. */
  #leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#abort?.abort(clientLeft());
    if (this.#stream !== undefined) void internals.end(eventStreamTarget(this.#stream), "client");
    if (this.#moreStreams !== undefined) {
      for (const response of this.#moreStreams) {
        void internals.end(eventStreamTarget(response), "client");
      }
    }
  }

  #abandon(sent: ServerSentEventTarget | undefined, unreadOnly: boolean): void {
    const stream = this.#stream;
    if (stream === undefined) return;
    abandonOne(stream, sent, unreadOnly);
    if (this.#moreStreams !== undefined) {
      for (const response of this.#moreStreams) abandonOne(response, sent, unreadOnly);
    }
  }

  /** The real `Request`, for everything this class does not answer itself. */
  #realRequest(): Request {
    if (this.#real === undefined) {
      const method = this.method;
      const init: RequestInit & { duplex?: "half" } = {
        method,
        headers: this.headers,
        signal: this.signal,
      };
      if (method !== "GET" && method !== "HEAD") {
        init.body = Readable.toWeb(this.#req as Readable) as ReadableStream<Uint8Array>;
        init.duplex = "half";
      }
      this.#real = new Request(this.url, init);
    }
    return this.#real;
  }
}

function abandonOne(
  response: EventStreamResponse,
  sent: ServerSentEventTarget | undefined,
  unreadOnly: boolean,
): void {
  const target = eventStreamTarget(response);
  if (target === sent || target.closed || (unreadOnly && !isUnread(response))) return;
  void internals.end(
    target,
    "error",
    new Error("Event stream closed: the handler did not send its response"),
  );
}

function clientLeft(): DOMException {
  return new DOMException("The client left", "AbortError");
}

// Everything else a Request has (body, text(), json(), clone(), cache, mode, ...) comes from a real one, made on first use.
inheritLazily(IncomingRequest, Request, (standIn) => realOf(standIn));
