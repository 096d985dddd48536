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
import { EventStreamResponse } from "./event-stream-response.js";
import { inheritLazily } from "./lazy-prototype.js";

/** A request from either server. */
export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

let realOf: (request: IncomingRequest) => Request;
let headerOf: (request: IncomingRequest, name: string) => string | null;
let addLeaveListener: (request: IncomingRequest, listener: () => void) => void;
let leaveRequest: (request: IncomingRequest) => void;

/** Tells `request`'s signal and listeners that the client left before the response ended. */
export function leave(request: IncomingRequest): void {
  leaveRequest(request);
}

/** sendEvents' side of the Node adapter: see `src/adapter-request.ts`. */
const NODE_ADAPTER: AdapterRequest = {
  header: (request, name) => headerOf(request as unknown as IncomingRequest, name),
  onLeave: (request, listener) => addLeaveListener(request as unknown as IncomingRequest, listener),
  respond: (_request, target, headers) =>
    new EventStreamResponse(target, headers) as unknown as Response,
};

/** A `Request` for a Node request, made lazily. */
export class IncomingRequest {
  readonly #req: NodeRequest;
  #url: string | undefined;
  #headers: Headers | undefined;
  #abort: AbortController | undefined;
  #real: Request | undefined;
  #left = false;
  #onLeave: (() => void)[] | undefined;
  static {
    realOf = (request) => request.#realRequest();
    headerOf = (request, name) => request.#header(name);
    addLeaveListener = (request, listener) => request.#addLeaveListener(listener);
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
  #addLeaveListener(listener: () => void): void {
    if (this.#left) queueMicrotask(listener);
    else if (this.#onLeave === undefined) this.#onLeave = [listener];
    else this.#onLeave.push(listener);
  }

  /** The adapter saw the client go: abort the signal and tell the listeners. */
  #leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#abort?.abort(clientLeft());
    const listeners = this.#onLeave;
    this.#onLeave = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
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
