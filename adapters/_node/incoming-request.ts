/**
 * The `Request` the Node adapter hands its handler: a real one (a subclass of the global
 * `Request`), so that it goes everywhere a `Request` goes: `new Request(request)`,
 * `fetch(request)`, `Request.prototype.clone.call(request)`. undici checks the internal state of
 * its argument there, which no stand-in can fake (Node 24's undici keeps it in private fields),
 * so the adapter no longer builds the request lazily. What it adds: the Node request behind it,
 * which `sendEvents` reads its headers from, and the event streams made for it.
 *
 * Its URL is what `new Request` makes of the request's target and authority (RFC 9112 §3.2.2:
 * an absolute-form target wins over `Host`); a request whose target or authority cannot be one
 * (two `Host` fields, `Host: a b`, `Host: evil.example/admin`) is refused with a `400` before any
 * handler runs (see {@linkcode incomingRequest}), so every reader of the request agrees on it.
 *
 * @module
 */

import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Readable } from "node:stream";
import { streamOf } from "../../src/_internal/access.ts";
import { ADAPTER_REQUEST, type AdapterRequest } from "../../src/_internal/adapter-hook.ts";
import type { ServerSentEventTarget } from "../../src/server-sent-event-target.ts";
import { EventStreamResponse } from "./event-stream-response.ts";
import { connectionUse } from "./response-head.ts";

/** A request from either server. */
export type NodeRequest = http.IncomingMessage | http2.Http2ServerRequest;

let stateOf: (request: IncomingRequest) => RequestState;

/**
 * What the adapter keeps of a request while its response lasts: the Node request (for header
 * lookups), the controller of the request's `signal`, and the event streams `sendEvents` made
 * for it. Kept apart from the `Request`, so that a long-lived event stream does not keep the
 * whole `Request` (its URL, header list and body) alive once the handler has let go of it.
 */
export class RequestState {
  readonly #req: NodeRequest;
  /** Made when the request's signal is first read (most event-stream handlers never do). */
  #abort: AbortController | undefined;
  #signal: AbortSignal | undefined;
  /** The `Request` whose signal is ours, where it must be kept alive for undici (see `signal`). */
  #carrier: Request | undefined;
  #left = false;
  /** The response has closed: a stream made now can never be sent. */
  #over = false;
  /**
   * The targets of the event streams made for this request (almost always one): ended when the
   * client leaves, or when the handler answers with another response. Targets, not their
   * responses: once the adapter has taken a response, it is let go for the stream's whole life.
   */
  #stream: ServerSentEventTarget | undefined;
  #moreStreams: ServerSentEventTarget[] | undefined;

  constructor(req: NodeRequest) {
    this.#req = req;
  }

  /** The Node request. */
  get req(): NodeRequest {
    return this.#req;
  }

  /** The request's `signal`: aborted when the client leaves before the response has ended. */
  get signal(): AbortSignal {
    if (this.#signal === undefined) {
      const abort = new AbortController();
      if (this.#left) abort.abort(clientLeft());
      this.#abort = abort;
      if (signalSlot === undefined) this.#signal = abort.signal;
      else {
        // A signal of undici's own making, which follows ours: undici aborts the clones of a
        // request from the controller behind its signal (a map of its own), so a plain signal
        // would leave `request.clone()`'s signal never aborting. The carrier keeps that
        // controller alive (undici's finalizer would stop the following once it is collected).
        this.#carrier = new Request("http://signal.invalid/", { signal: abort.signal });
        this.#signal = this.#carrier.signal;
      }
    }
    return this.#signal;
  }

  /** A request header by its lower-case name, without building `Headers`. */
  header(name: string): string | null {
    const value = this.#req.headers[name];
    if (value === undefined) return null;
    return Array.isArray(value) ? value.join(", ") : value;
  }

  /**
   * Records an event stream made for this request; ends it (deferred, so that a `close` listener
   * added right after `sendEvents` hears it) if the client has left or the response has closed.
   */
  addStream(target: ServerSentEventTarget): void {
    if (this.#left) {
      queueMicrotask(() => streamOf(target).leave());
    } else if (this.#over) {
      queueMicrotask(() => abandonOne(target, undefined, false));
    } else if (this.#stream === undefined) this.#stream = target;
    else if (this.#moreStreams === undefined) this.#moreStreams = [target];
    else this.#moreStreams.push(target);
  }

  /**
   * The client left before the response ended: aborts the request's signal and ends the event
   * streams made for it with reason `"client"`.
   */
  leave(): void {
    if (this.#left) return;
    this.#left = true;
    this.#abort?.abort(clientLeft());
    if (this.#stream !== undefined) streamOf(this.#stream).leave();
    if (this.#moreStreams !== undefined) {
      for (const target of this.#moreStreams) streamOf(target).leave();
    }
  }

  /**
   * Ends, with reason `"error"`, the event streams made for the request other than `sent` (the
   * one the adapter is sending, if any): the handler answered with another response, so no client
   * will ever read them. With `unreadOnly`, only those whose body nobody has taken: one that is
   * being read may be feeding the response through a transform, and ends with it. Without it (the
   * response has closed), streams made for the request later end at once too.
   */
  abandon(sent: ServerSentEventTarget | undefined, unreadOnly: boolean): void {
    if (!unreadOnly) this.#over = true;
    const stream = this.#stream;
    if (stream === undefined) return;
    abandonOne(stream, sent, unreadOnly);
    if (this.#moreStreams !== undefined) {
      for (const target of this.#moreStreams) abandonOne(target, sent, unreadOnly);
    }
  }
}

/**
 * RFC 9110 §7.2: `Host = uri-host [ ":" port ]`, where `uri-host` is an IP literal in brackets or
 * a reg-name (unreserved, pct-encoded and sub-delims characters; an IPv4 address is one too).
 * Anything else (a space, `/`, `?`, `#`, `@`, `\`) would let the authority rewrite the path or
 * the host that `new Request` sees.
 */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]*)?$/;
/** An absolute-form request target (RFC 9112 §3.2.2). */
const ABSOLUTE_FORM = /^https?:\/\//i;
/** Methods a Fetch `Request` refuses (fetch's forbidden methods). */
const FORBIDDEN_METHODS: ReadonlySet<string> = new Set(["CONNECT", "TRACE", "TRACK"]);

/** Why {@linkcode incomingRequest} refused a request: the status to answer with. */
export type Refusal = 400 | 501;

/**
 * The URL of `req` as `new Request` would say it, from its target and authority, or `undefined`
 * if they cannot make one that every reader agrees on.
 */
function urlOf(req: NodeRequest): string | undefined {
  const target = req.url ?? "";
  if (req.httpVersionMajor >= 2) {
    const headers = req.headers;
    const scheme = headers[":scheme"];
    const pseudo = headers[":authority"] as string | undefined;
    const host = headers.host;
    // RFC 9113 §8.3.1: a Host that names another authority than :authority makes it malformed.
    if (pseudo !== undefined && host !== undefined && pseudo.toLowerCase() !== host.toLowerCase()) {
      return undefined;
    }
    const authority = pseudo ?? host;
    if (scheme !== "http" && scheme !== "https") return undefined;
    if (authority === undefined || !AUTHORITY.test(authority)) return undefined;
    if (target.charCodeAt(0) !== 47 /* "/" */) return undefined;
    return `${scheme}://${authority}${target}`;
  }
  // RFC 9112 §3.2: exactly one Host, and a valid one.
  const raw = req.rawHeaders;
  let host: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && name.toLowerCase() === "host") {
      if (host !== undefined) return undefined;
      host = raw[i + 1]!;
    }
  }
  if (host === undefined) {
    // RFC 9112 §3.2: HTTP/1.1 requires it (Node 20 and later refuse its absence themselves).
    if (req.httpVersionMinor >= 1) return undefined;
  } else if (!AUTHORITY.test(host)) return undefined;
  if (target.charCodeAt(0) === 47 /* "/" */) {
    const scheme =
      (req.socket as { encrypted?: boolean } | null)?.encrypted === true ? "https" : "http";
    return `${scheme}://${host ?? "localhost"}${target}`;
  }
  // The absolute form names the host itself, and Host is ignored (RFC 9112 §3.2.2).
  if (ABSOLUTE_FORM.test(target)) return target;
  return undefined;
}

/**
 * A request's header fields for `new Request`, HTTP/2 pseudo-headers left out, as `Headers`:
 * undici takes them with less garbage than pairs (6.4 against 9.3 KB a `Request` for six fields,
 * Node 20: its sequence conversion makes an iterator and an array for every pair), and appends
 * them as it would the pairs, joining a name that comes twice. A record would make less still
 * (4.9 KB), but V8 makes a hidden class for every new name in one: a client sending ten made-up
 * names a request made each `new Request` two and a half times as slow.
 *
 * @throws {TypeError} For a name or value that `Headers` refuses.
 */
function headerFields(req: NodeRequest): Headers {
  const raw = req.rawHeaders;
  const headers = new Headers();
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* ":" an HTTP/2 pseudo-header */) continue;
    headers.append(name, raw[i + 1]!);
  }
  return headers;
}

/**
 * The `Request` for `req`, or the status to refuse it with: `400` if its target, authority or
 * header fields cannot make a `Request` (see the module), `501` for a method a `Request` cannot
 * have (`CONNECT`, `TRACE`, `TRACK`). `state` becomes the request's {@linkcode RequestState} (the
 * adapter's `Exchange` is one).
 */
export function incomingRequest(req: NodeRequest, state: RequestState): IncomingRequest | Refusal {
  const method = req.method ?? "GET";
  if (FORBIDDEN_METHODS.has(method.toUpperCase())) return 501;
  const url = urlOf(req);
  if (url === undefined) return 400;
  try {
    const headers = headerFields(req);
    // GET is `new Request`'s own default: naming it costs undici a method check.
    const init: RequestInit & { duplex?: "half" } =
      method === "GET" ? { headers } : { method, headers };
    // Where undici lets the signal be ours (see SLOT), it is made only when read; elsewhere the
    // Request must follow one from the start.
    if (signalSlot === undefined) init.signal = state.signal;
    if (method !== "GET" && method !== "HEAD") {
      init.body = bodyOf(req);
      init.duplex = "half";
    }
    return new IncomingRequest(state, url, init);
  } catch (error) {
    // What `Headers` and `new Request` refuse (a field value with a NUL, a host the URL parser
    // rejects, credentials in an absolute target) is the client's mistake, as Node's own 400s are.
    if (error instanceof TypeError) return 400;
    throw error;
  }
}

/** A web stream's queue of 0: nothing is pulled from the source before a read asks for it. */
const LAZY: QueuingStrategy<Uint8Array> = { highWaterMark: 0 };

/**
 * The request body as a web stream that starts reading `req` only when it is read. A stream over
 * `req` from the start (`Readable.toWeb`) would take it from Node at once: a handler that never
 * reads the body would leave it half read, paused on the web stream's queue, and the next request
 * on the connection would never be parsed. Left alone, Node discards it once the response ends.
 */
function bodyOf(req: NodeRequest): ReadableStream<Uint8Array> {
  let reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        reader ??= (Readable.toWeb(req as Readable) as ReadableStream<Uint8Array>).getReader();
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel(reason) {
        if (reader !== undefined) return reader.cancel(reason);
        (req as Readable).resume();
        return undefined;
      },
    },
    LAZY,
  );
}

/** sendEvents' side of the Node adapter: see `src/_internal/adapter-hook.ts`. */
const NODE_ADAPTER: AdapterRequest = {
  header: (request, name) => stateOf(request as IncomingRequest).header(name),
  connection: (request) => connectionUse(stateOf(request as IncomingRequest).req),
  respond: (request, target, headers, use) => {
    const response = new EventStreamResponse(target, headers, use);
    stateOf(request as IncomingRequest).addStream(target);
    return response as unknown as Response;
  },
};

/**
 * Where undici keeps a `Request`'s signal, if it lets us put ours there: a property under a symbol
 * of its own, which `request.signal`, `request.clone()`, `new Request(request)` and
 * `fetch(request)` all read (undici in Node 18, 20 and 22). Then the adapter passes no signal to
 * the `Request` and makes one only when it is read: a signal that undici follows costs a `WeakRef`
 * and a `FinalizationRegistry` entry per request, which tripled the garbage collector's time per
 * connection (44 µs against 7 µs, Node 20). Found by a probe rather than by name; where it fails
 * (Node 24's undici keeps the signal in a private field), every `Request` follows one from the
 * start. The probe checks the whole round trip: ours is what `signal` gives, and what a copy
 * and a clone follow.
 */
const SLOT: symbol | undefined = (() => {
  try {
    const probe = new Request("http://probe.invalid/");
    const slot = Object.getOwnPropertySymbols(probe).find(
      (key) => (probe as unknown as Record<symbol, unknown>)[key] === probe.signal,
    );
    if (slot === undefined) return undefined;
    // The same arrangement as RequestState's signal: a carrier's signal, following ours.
    const ours = new AbortController();
    const carrier = new Request("http://signal.invalid/", { signal: ours.signal });
    Object.defineProperty(probe, slot, { configurable: true, get: () => carrier.signal });
    if (probe.signal !== carrier.signal) return undefined;
    const copy = new Request(probe);
    const clone = probe.clone();
    ours.abort();
    return copy.signal.aborted && clone.signal.aborted ? slot : undefined;
  } catch {
    return undefined;
  }
})();

/**
 * The signal undici's constructor stores while it runs (it reads it back once, in Node 18), kept
 * here because the slot is an accessor on the prototype: the instance gets no property of its own.
 */
let constructing: unknown;

/** A real `Request` for a Node request; made by {@linkcode incomingRequest}. */
export class IncomingRequest extends Request {
  readonly #state: RequestState;
  static {
    stateOf = (request) => request.#state;
    // The signal slot is an accessor on the prototype, which undici's `this[slot] = signal`
    // calls rather than making an own property: redefining an own property on every request
    // (the way this began) turned each into a slow dictionary-mode object, some 3 µs a request.
    if (SLOT !== undefined) {
      Object.defineProperty(IncomingRequest.prototype, SLOT, {
        configurable: true,
        enumerable: false,
        get(this: IncomingRequest): unknown {
          return #state in this ? this.#state.signal : constructing;
        },
        set(this: IncomingRequest, value: unknown) {
          if (!(#state in this)) constructing = value;
        },
      });
    }
  }

  /** Marks it as a request this adapter made, for sendEvents. */
  get [ADAPTER_REQUEST](): AdapterRequest {
    return NODE_ADAPTER;
  }

  /** @throws {TypeError} If `new Request(url, init)` does. */
  constructor(state: RequestState, url: string, init: RequestInit & { duplex?: "half" }) {
    try {
      super(url, init);
    } finally {
      constructing = undefined;
    }
    this.#state = state;
  }
}

/**
 * Aborts `target`'s stream unless it is `sent` or has ended; with `unreadOnly`, only if nothing
 * drains it (neither the adapter nor a reader of its body).
 */
function abandonOne(
  target: ServerSentEventTarget,
  sent: ServerSentEventTarget | undefined,
  unreadOnly: boolean,
): void {
  if (target === sent || target.closed || (unreadOnly && streamOf(target).attached)) return;
  target.abort(new Error("Event stream closed: the handler did not send its response"));
}

let left: DOMException | undefined;

/**
 * The reason a request's signal aborts with when its client leaves: one for all requests, made on
 * first use. Making a `DOMException` captures a stack trace, which cost more than a third of what
 * the signal costs per request on Node 20.
 */
function clientLeft(): DOMException {
  left ??= new DOMException("The client left", "AbortError");
  return left;
}

/**
 * {@linkcode SLOT} while the prototype's accessor works on a request of ours as it does on the
 * probe (the request's signal is its state's, and a copy and a clone follow it); else `undefined`,
 * and the accessor is gone.
 */
let signalSlot: symbol | undefined = SLOT;
// Checked last, once everything it calls is defined.
signalSlot = (() => {
  if (SLOT === undefined) return undefined;
  try {
    const state = new RequestState({} as NodeRequest);
    const probe = new IncomingRequest(state, "http://probe.invalid/", { method: "GET" });
    const own = Object.getOwnPropertySymbols(probe).includes(SLOT);
    if (!own && probe.signal === state.signal) {
      const copy = new Request(probe);
      const clone = probe.clone();
      state.leave();
      if (copy.signal.aborted && clone.signal.aborted) return SLOT;
    }
  } catch {}
  delete (IncomingRequest.prototype as unknown as Record<symbol, unknown>)[SLOT];
  return undefined;
})();
