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
import { EventStreamResponse } from "./event-stream-response.js";
import { inheritLazily } from "./lazy-prototype.js";

/** A request from either server. */
export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

let realOf: (request: IncomingRequest) => Request;
let headerOf: (request: IncomingRequest, name: string) => string | null;
let addStream: (request: IncomingRequest, target: ServerSentEventTarget) => void;
let leaveRequest: (request: IncomingRequest) => void;

/** Tells `request`'s signal and listeners that the client left before the response ended. */
export function leave(request: IncomingRequest): void {
  leaveRequest(request);
}

/** sendEvents' side of the Node adapter: see `src/adapter-request.ts`. */
const NODE_ADAPTER: AdapterRequest = {
  header: (request, name) => headerOf(request as unknown as IncomingRequest, name),
  respond: (request, target, headers) => {
    addStream(request as unknown as IncomingRequest, target);
    return new EventStreamResponse(target, headers) as unknown as Response;
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
  /** The event streams answering this request (almost always one), ended when the client leaves. */
  #stream: ServerSentEventTarget | undefined;
  #moreStreams: ServerSentEventTarget[] | undefined;
  static {
    realOf = (request) => request.#realRequest();
    headerOf = (request, name) => request.#header(name);
    addStream = (request, target) => request.#addStream(target);
    leaveRequest = (request) => request.#leave();
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

  /** Calls `listener` once when the client leaves; at once (deferred) if it has left. */
  #addStream(target: ServerSentEventTarget): void {
    if (this.#left) queueMicrotask(() => void internals.end(target, "client"));
    else if (this.#stream === undefined) this.#stream = target;
    else if (this.#moreStreams === undefined) this.#moreStreams = [target];
    else this.#moreStreams.push(target);
  }

  /** The adapter saw the client go: abort the signal and tell the listeners. */
  #leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#abort?.abort(clientLeft());
    if (this.#stream !== undefined) void internals.end(this.#stream, "client");
    if (this.#moreStreams !== undefined) {
      for (const target of this.#moreStreams) void internals.end(target, "client");
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

function clientLeft(): DOMException {
  return new DOMException("The client left", "AbortError");
}

// Everything else a Request has (body, text(), json(), clone(), cache, mode, ...) comes from a real one, made on first use.
inheritLazily(IncomingRequest, Request, (standIn) => realOf(standIn));
