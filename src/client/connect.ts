import { checkInteger, MAX_DELAY } from "../_internal/check-integer.ts";
import { describe } from "../_internal/describe.ts";
import type { EventStoreStaleReason } from "../event-store.ts";
import type {
  AddListenerOptions,
  DataEvent,
  EventListenerInput,
  EventOptions,
  HeadersInit,
  RemoveListenerOptions,
} from "../web-types.ts";
import { createEventStreamParser, type EventStreamParser } from "./event-stream-parser.ts";
import {
  checkSignal,
  type DataParsers,
  type EventOf,
  type OptionsArgument,
  type ParseOption,
  parseData,
  type ReceivedEvent,
  type TextEvents,
  toDataParsers,
} from "./read-events.ts";

/** The default {@linkcode ConnectInit.retry}: 3 s, as browsers' `EventSource` waits. */
export const DEFAULT_RETRY = 3_000;
/** The default {@linkcode ConnectInit.maxRetryDelay}. */
export const DEFAULT_MAX_RETRY_DELAY = 30_000;
/** Events a loop over a connection may fall behind before the body is read no further. */
const MAX_QUEUED = 1024;
/** A reconnect waits its delay times 1 to 1 + this, so that clients dropped together spread out. */
const JITTER = 0.25;
/**
 * From the second failure in a row on, the backoff doubles from at least this many milliseconds,
 * so that `retry: 0` and a server that accepts and at once closes every stream do not make a
 * client spin.
 */
const MIN_BACKOFF = 100;
const CONNECTING = 0;
const OPEN = 1;
const CLOSED = 2;

/** What the `stale` event of a `Channel` carries: why the client's position could not be resumed. */
export interface StaleData {
  /** `"expired"`: the events after the client's id were dropped; `"unknown"`: the id is not one of this channel's. */
  readonly reason: EventStoreStaleReason;
}

/** The data of `message` events: the map's, or text. */
/** The data of `onmessage`'s events: `Events["message"]` when the map has the type, else text. */
export type ReceivedMessageData<Events> = "message" extends keyof Events
  ? Events["message"]
  : string;

/** The events a connection yields: those of the event map, and a `Channel`'s `stale`. */
export type ConnectionEventOf<Events> = EventOf<Events> | ReceivedEvent<"stale", StaleData>;

/** The `fetch` a connection calls: the global one by default. */
export type FetchFunction = (
  input: string | URL | Request,
  init?: RequestInit,
) => Promise<Response>;

/** Options for {@linkcode connect}, beside `parse`. */
export interface ConnectOptions {
  /**
   * The request method.
   * @default "GET"
   */
  method?: string;
  /**
   * Request headers, or a function that gives them, called before every attempt (to send a fresh
   * token on each reconnect). `Accept: text/event-stream` is added unless given; `Last-Event-ID`
   * is set by the connection. A function that throws or rejects counts as a failed attempt: it is
   * reported as an `error` and retried with backoff, as a network error is.
   */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>);
  /** The request body, sent again on every reconnect, so it cannot be a `ReadableStream`. */
  body?: string | URLSearchParams | FormData | Blob | ArrayBuffer | ArrayBufferView | null;
  /** `fetch`'s `credentials`, for cookies on another origin. */
  credentials?: "omit" | "same-origin" | "include";
  /** Ends the connection for good: the pending fetch, the body, any wait for a reconnect. */
  signal?: AbortSignal;
  /** The `fetch` to call: a test's, a Worker's service binding's, one with a proxy. */
  fetch?: FetchFunction;
  /** The id to resume after, sent as `Last-Event-ID` on the first request already. */
  lastEventId?: string;
  /**
   * Milliseconds to wait before a reconnect until the server sends `retry:`.
   * @default 3000
   */
  retry?: number;
  /**
   * The longest wait before a reconnect, whatever `retry`, backoff or `Retry-After` say.
   * @default 30000
   */
  maxRetryDelay?: number;
  /**
   * Attempts in a row that brought no event (a failed request, or a stream that ended before its
   * first event) after which the connection gives up.
   * @default Infinity
   */
  maxRetries?: number;
  /**
   * The type of a `Channel`'s stale event (its `staleEventType`), raised as `stale`.
   * @default "stale"
   */
  staleEventType?: string;
}

/** Options for {@linkcode connect}: `parse` is required when the event map has non-string data. */
export type ConnectInit<Events extends object = TextEvents> = ParseOption<Events> & ConnectOptions;

/** How a connection ended for good: what {@linkcode EventConnection.closed} resolves with. */
export interface ConnectionEnd {
  /**
   * `"done"`: the server answered `204 No Content`. `"aborted"`: the caller's signal. `"closed"`:
   * `close()`, or a loop over the connection that ended early. `"error"`: a fatal error (a status
   * that is not retried, a response that is not an event stream, data that does not parse, or
   * `maxRetries` failures in a row).
   */
  readonly reason: "done" | "aborted" | "closed" | "error";
  /** The error, for `"error"`. */
  readonly error?: unknown;
  /** The last response's status, if one came. */
  readonly status?: number;
}

/** Options for {@linkcode ConnectionErrorEvent}. */
export interface ConnectionErrorEventInit extends EventOptions {
  /** What went wrong; `undefined` for a clean end. */
  error?: unknown;
  /** The response's status, if one came. */
  status?: number | undefined;
  /** Milliseconds until the next attempt; `undefined` when the connection has closed for good. */
  retryIn?: number | undefined;
}

/**
 * The `error` event of an {@linkcode EventConnection}: a failed attempt or a dropped stream, with
 * what happened and what the connection does next.
 *
 * @example Show the connection's state
 * ```ts
 * import { connect } from "sendevents/client";
 *
 * const connection = connect("https://example.com/feed");
 * connection.addEventListener("error", (event) => {
 *   console.log(event.retryIn === undefined ? "gave up" : `retrying in ${event.retryIn} ms`);
 * });
 * ```
 */
export class ConnectionErrorEvent extends Event {
  /** What went wrong: a network error, a bad status, the body's error; `undefined` for a clean end. */
  readonly error: unknown;
  /** The response's status, if one came. */
  readonly status: number | undefined;
  /** Milliseconds until the next attempt; `undefined` when the connection has closed for good. */
  readonly retryIn: number | undefined;

  /**
   * Creates the event a connection raises when an attempt fails or its stream drops.
   *
   * @param type `"error"`.
   * @param init The error, the status and the delay before the next attempt.
   */
  constructor(type: string, init: ConnectionErrorEventInit = {}) {
    super(type, init);
    this.error = init.error;
    this.status = init.status;
    this.retryIn = init.retryIn;
  }
}

/** A listener of a connection's events of one type. */
export type ConnectionListener<E extends Event> =
  | ((event: E) => void)
  | { handleEvent(event: E): void };

/** A millisecond option of `connect`: a timer's delay, so at most `MAX_DELAY`. */
function checkDelay(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  return checkInteger("Cannot connect", name, value, 0, MAX_DELAY);
}

function checkString(value: unknown, name: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== "string") {
    throw new TypeError(`Cannot connect: "${name}" must be a string, received ${describe(value)}`);
  }
  return value;
}

/** The URL to connect to, resolved against the page's in a browser. */
function resolveUrl(url: unknown): URL {
  if (typeof url !== "string" && !(url instanceof URL)) {
    throw new TypeError(
      `Cannot connect: the URL must be a string or URL, received ${describe(url)}`,
    );
  }
  const base = (globalThis as { location?: { href?: string } }).location?.href;
  try {
    return new URL(url, base);
  } catch (cause) {
    throw new TypeError(`Cannot connect: invalid URL ${describe(String(url))}`, { cause });
  }
}

/** `Retry-After` in milliseconds: delay-seconds or an HTTP date; `undefined` if absent or bad. */
function retryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The media type of a `Content-Type`, lower case, without parameters. */
function mediaType(header: string | null): string {
  return (header ?? "").split(";", 1)[0]!.trim().toLowerCase();
}

/** The wait that ends early when the connection closes or reconnects. */
interface Wait {
  timer: ReturnType<typeof setTimeout>;
  resolve(): void;
}

/** The queue behind a connection's async iterator. */
class ConnectionIterator<Event> implements AsyncIterableIterator<Event, undefined, undefined> {
  readonly #close: () => void;
  #queue: Event[] = [];
  #head = 0;
  #waiting:
    | { resolve(result: IteratorResult<Event, undefined>): void; reject(error: unknown): void }
    | undefined;
  #ended = false;
  #error: { error: unknown } | undefined;
  /** Resolves once the loop has taken every queued event, or ended. */
  #drained: { promise: Promise<void>; resolve(): void } | undefined;

  constructor(close: () => void) {
    this.#close = close;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  push(event: Event): void {
    if (this.#ended) return;
    const waiting = this.#waiting;
    if (waiting !== undefined) {
      this.#waiting = undefined;
      waiting.resolve({ done: false, value: event });
    } else this.#queue.push(event);
  }

  /**
   * A promise to wait on before reading more, when the loop is `MAX_QUEUED` events behind: the
   * body is then read only as fast as the loop takes events, and the server's queue bound (or
   * TCP's) holds the rest. `undefined` when the loop keeps up.
   */
  backlog(): Promise<void> | undefined {
    if (this.#ended || this.#queue.length - this.#head < MAX_QUEUED) return undefined;
    if (this.#drained === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      this.#drained = { promise, resolve };
    }
    return this.#drained.promise;
  }

  #drain(): void {
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.resolve();
  }

  /** Ends the loop once the queued events are taken: with `error` thrown, if given. */
  end(error?: { error: unknown }): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#error = error;
    this.#drain();
    const waiting = this.#waiting;
    if (waiting === undefined) return;
    this.#waiting = undefined;
    if (error === undefined) waiting.resolve({ done: true, value: undefined });
    else {
      this.#error = undefined;
      waiting.reject(error.error);
    }
  }

  next(): Promise<IteratorResult<Event, undefined>> {
    if (this.#head < this.#queue.length) {
      const event = this.#queue[this.#head]!;
      this.#queue[this.#head++] = undefined as Event;
      if (this.#head === this.#queue.length) {
        this.#queue.length = 0;
        this.#head = 0;
        this.#drain();
      }
      return Promise.resolve({ done: false, value: event });
    }
    if (this.#ended) {
      const error = this.#error;
      if (error === undefined) return Promise.resolve({ done: true, value: undefined });
      // Thrown once; a later next() just reports the end.
      this.#error = undefined;
      return Promise.reject(error.error);
    }
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  async return(): Promise<IteratorResult<Event, undefined>> {
    this.#queue.length = 0;
    this.#head = 0;
    this.#error = undefined;
    this.#close();
    this.end();
    return { done: true, value: undefined };
  }
}

let createConnection: <Events extends object>(
  url: URL,
  init: ConnectOptions,
  parsers: DataParsers | undefined,
) => EventConnection<Events>;
const CONSTRUCT = Symbol("construct");

/**
 * A resuming event stream over `fetch`, made by {@linkcode connect}: `EventSource`, with a method,
 * headers and a body, typed events, and a reconnect that always resumes.
 *
 * Listen with `addEventListener(type, listener)` as on an `EventSource` (each event is a
 * `MessageEvent` with `data` and `lastEventId`), or loop over it with `for await`. Besides the
 * server's types it raises `open` (a stream opened), `error` (an attempt failed or the stream
 * dropped: a {@linkcode ConnectionErrorEvent} saying when it retries) and `stale` (a `Channel`
 * could not resume from the last event id).
 *
 * @typeParam Events The server's event map.
 *
 * @example Listen as to an EventSource
 * ```ts
 * import { connect } from "sendevents/client";
 *
 * const connection = connect("https://example.com/room", {
 *   headers: { authorization: "Bearer token" },
 * });
 * connection.addEventListener("chat", (event) => console.log(event.data, event.lastEventId));
 * connection.addEventListener("stale", () => location.reload());
 * ```
 */
export class EventConnection<Events extends object = TextEvents> extends EventTarget {
  /** `readyState` while an attempt is under way or a reconnect is waited for. */
  static readonly CONNECTING: 0 = CONNECTING;
  /** `readyState` while a stream is open. */
  static readonly OPEN: 1 = OPEN;
  /** `readyState` once the connection has ended for good. */
  static readonly CLOSED: 2 = CLOSED;

  /** The URL, resolved. */
  readonly url: string;
  /** Resolves (never rejects) once the connection has ended for good, saying how. */
  readonly closed: Promise<ConnectionEnd>;
  // A number, not 0 | 1 | 2: listeners change it behind the compiler's back.
  #state: number = CONNECTING;
  readonly #init: ConnectOptions;
  readonly #origin: string;
  readonly #fetch: FetchFunction;
  readonly #parsers: DataParsers | undefined;
  readonly #staleType: string;
  readonly #maxRetryDelay: number;
  readonly #maxRetries: number;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: () => void;
  #resolveClosed!: (end: ConnectionEnd) => void;
  #lastEventId: string;
  #retry: number;
  /** Attempts in a row that brought no event: failed, or a stream that ended empty. */
  #failures = 0;
  #status: number | undefined;
  /** `reconnect()` was called during this attempt: deliver nothing more from it. */
  #dropped = false;
  /** Aborts the current attempt: its fetch and its body. */
  #attempt: AbortController | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #wait: Wait | undefined;
  #iterator: ConnectionIterator<ConnectionEventOf<Events>> | undefined;
  /** Types that have ever had a listener: the others are not made into a `MessageEvent`. */
  readonly #listened = new Set<string>();
  /** What `onopen`, `onmessage` and `onerror` hold, and the listener each added. */
  readonly #handlers = new Map<string, { handler: unknown; listener: (event: Event) => void }>();

  static {
    createConnection = <Events extends object>(
      url: URL,
      init: ConnectOptions,
      parsers: DataParsers | undefined,
    ) => new EventConnection<Events>(CONSTRUCT, url, init, parsers);
  }

  private constructor(
    key: typeof CONSTRUCT,
    url: URL,
    init: ConnectOptions,
    parsers: DataParsers | undefined,
  ) {
    if (key !== CONSTRUCT) {
      throw new TypeError("Cannot construct EventConnection: use connect(url, init) instead");
    }
    super();
    this.url = url.href;
    this.#origin = url.origin;
    this.#init = init;
    this.#parsers = parsers;
    this.#fetch = init.fetch ?? globalThis.fetch;
    this.#lastEventId = init.lastEventId ?? "";
    this.#retry = init.retry ?? DEFAULT_RETRY;
    this.#maxRetryDelay = init.maxRetryDelay ?? DEFAULT_MAX_RETRY_DELAY;
    this.#maxRetries = init.maxRetries ?? Number.POSITIVE_INFINITY;
    this.#staleType = init.staleEventType ?? "stale";
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    this.#onAbort = () => this.#end({ reason: "aborted" });
    this.#signal = init.signal;
    if (this.#signal?.aborted) {
      this.#end({ reason: "aborted" });
      return;
    }
    this.#signal?.addEventListener("abort", this.#onAbort, { once: true });
    this.#run().then(undefined, (error: unknown) => this.#end({ reason: "error", error }));
  }

  /** Called for `open` events, as `EventSource.onopen` is; `null` for none. */
  get onopen(): ((event: Event) => void) | null {
    return this.#handler("open");
  }
  set onopen(handler: ((event: Event) => void) | null) {
    this.#setHandler("open", handler);
  }

  /** Called for `message` events (those without an `event:` field), as `EventSource.onmessage` is. */
  get onmessage(): ((event: DataEvent<ReceivedMessageData<Events>>) => void) | null {
    return this.#handler("message");
  }
  set onmessage(handler: ((event: DataEvent<ReceivedMessageData<Events>>) => void) | null) {
    this.#setHandler("message", handler);
  }

  /** Called for `error` events, as `EventSource.onerror` is. */
  get onerror(): ((event: ConnectionErrorEvent) => void) | null {
    return this.#handler("error");
  }
  set onerror(handler: ((event: ConnectionErrorEvent) => void) | null) {
    this.#setHandler("error", handler);
  }

  // biome-ignore lint/suspicious/noExplicitAny: each on* property has its own event type
  #handler(type: string): any {
    return this.#handlers.get(type)?.handler ?? null;
  }

  #setHandler(type: string, handler: unknown): void {
    const current = this.#handlers.get(type);
    if (current !== undefined) {
      super.removeEventListener(type, current.listener);
      this.#handlers.delete(type);
    }
    if (typeof handler !== "function") return;
    // The handler is called with the connection as `this`, as EventTarget's on* properties do.
    const listener = (event: Event): void => {
      (handler as (event: Event) => void).call(this, event);
    };
    this.#handlers.set(type, { handler, listener });
    this.#listened.add(type);
    super.addEventListener(type, listener);
  }

  /** `CONNECTING` (0), `OPEN` (1) or `CLOSED` (2), as on `EventSource`. */
  get readyState(): 0 | 1 | 2 {
    return this.#state as 0 | 1 | 2;
  }

  /** The id sent as `Last-Event-ID` on the next attempt: the last one the server set. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** The reconnection time in milliseconds: the server's last `retry:`, or the `retry` option. */
  get retry(): number {
    return this.#retry;
  }

  /**
   * Ends the connection for good: the pending fetch is aborted, the body cancelled, a waiting
   * reconnect cancelled; a loop over the connection ends. Calling it again does nothing.
   */
  close(): void {
    this.#end({ reason: "closed" });
  }

  /**
   * Drops the current stream (or the wait for the next attempt) and connects again at once,
   * resuming with `Last-Event-ID`, as after a network change.
   *
   * @throws {TypeError} If the connection has closed for good.
   */
  reconnect(): void {
    if (this.#isClosed()) {
      throw new TypeError("Cannot reconnect: the connection is closed for good");
    }
    this.#failures = 0;
    this.#dropped = true;
    this.#attempt?.abort();
    // A fetch that ignores its signal (an injected one) leaves its body running: cancel it too.
    this.#reader?.cancel().then(undefined, () => {});
    this.#interrupt();
  }

  /**
   * Loops over the events from now on, in order. The loop ends when the connection closes for
   * good (a fatal error is thrown), and ending the loop early closes the connection. Events are
   * queued for the loop only once it has started: start it before awaiting anything else. A loop
   * 1024 events behind pauses the reading of the body until it has caught up (listeners then wait
   * too), so a slow consumer holds back the stream rather than fill memory.
   *
   * @throws {TypeError} If a loop over this connection has already started.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<ConnectionEventOf<Events>, undefined, undefined> {
    if (this.#iterator !== undefined) {
      throw new TypeError("Cannot loop over the connection: a loop over it has already started");
    }
    const iterator = new ConnectionIterator<ConnectionEventOf<Events>>(() => this.close());
    this.#iterator = iterator;
    if (this.#isClosed()) iterator.end();
    return iterator;
  }

  /** Listens for `open`: a stream was opened (after every reconnect too). */
  override addEventListener(
    type: "open",
    listener: ConnectionListener<Event> | null,
    options?: AddListenerOptions,
  ): void;
  /** Listens for `error`: an attempt failed or the stream dropped (see {@linkcode ConnectionErrorEvent}). */
  override addEventListener(
    type: "error",
    listener: ConnectionListener<ConnectionErrorEvent> | null,
    options?: AddListenerOptions,
  ): void;
  /** Listens for `stale`: a `Channel` could not resume from the client's last id. */
  override addEventListener(
    type: "stale",
    listener: ConnectionListener<DataEvent<StaleData>> | null,
    options?: AddListenerOptions,
  ): void;
  /** Listens for one of the server's event types, its `data` typed by the event map. */
  override addEventListener<Type extends keyof Events & string>(
    type: Type,
    listener: ConnectionListener<DataEvent<Events[Type]>> | null,
    options?: AddListenerOptions,
  ): void;
  /**
   * Listens as on an `EventSource`: `open`, `error`, `stale` and the server's own event types.
   *
   * @param type The event type.
   * @param listener A function or an object with `handleEvent`.
   * @param options `once`, `signal` and the other options of `EventTarget`'s.
   */
  override addEventListener(
    type: string,
    listener: EventListenerInput,
    options?: AddListenerOptions,
  ): void {
    if (listener) this.#listened.add(String(type));
    super.addEventListener(type, listener, options);
  }

  /**
   * Removes a listener added with {@linkcode EventConnection.addEventListener}.
   *
   * @param type The event type.
   * @param listener The listener added.
   * @param options `capture`, as given to `addEventListener`.
   */
  override removeEventListener(
    type: string,
    // biome-ignore lint/suspicious/noExplicitAny: the typed listeners of addEventListener
    listener: ConnectionListener<any> | EventListenerInput,
    options?: RemoveListenerOptions,
  ): void {
    super.removeEventListener(type, listener as EventListenerInput, options);
  }

  /** Attempts, reads and waits until the connection ends. */
  async #run(): Promise<void> {
    while (this.#state !== CLOSED) {
      const attempt = new AbortController();
      this.#dropped = false;
      this.#attempt = attempt;
      this.#state = CONNECTING;
      let response: Response;
      try {
        response = await this.#request(attempt.signal);
      } catch (error) {
        if (this.#isClosed()) return;
        if (attempt.signal.aborted) continue; // reconnect(): at once
        await this.#retryLater(error, undefined, undefined);
        continue;
      }
      if (this.#isClosed() || attempt.signal.aborted) {
        void response.body?.cancel().then(undefined, () => {});
        continue;
      }
      this.#status = response.status;
      if (response.status === 204) {
        this.#end({ reason: "done", status: 204 });
        return;
      }
      if (response.status !== 200) {
        void response.body?.cancel().then(undefined, () => {});
        const status = response.status;
        const error = new Error(`Cannot connect to ${this.url}: the server answered ${status}`);
        if (status >= 500 || status === 429 || status === 408) {
          await this.#retryLater(error, status, retryAfter(response.headers.get("retry-after")));
          continue;
        }
        this.#fatal(error, status);
        return;
      }
      const type = mediaType(response.headers.get("content-type"));
      if (type !== "text/event-stream" || response.body === null) {
        void response.body?.cancel().then(undefined, () => {});
        this.#fatal(
          new Error(
            `Cannot connect to ${this.url}: expected a text/event-stream response, received ${describe(type)}`,
          ),
          200,
        );
        return;
      }
      this.#state = OPEN;
      this.dispatchEvent(new Event("open"));
      if (this.#state !== OPEN || attempt.signal.aborted) {
        void response.body.cancel().then(undefined, () => {});
        continue;
      }
      let failure: { error: unknown } | undefined;
      try {
        await this.#read(response.body, attempt.signal);
      } catch (error) {
        if (this.#isClosed()) return;
        if (attempt.signal.aborted) continue;
        failure = { error };
      }
      if (this.#isClosed()) return;
      if (attempt.signal.aborted) continue;
      // The stream ended or dropped: reconnect after the server's retry, as EventSource does.
      await this.#retryLater(failure?.error, 200, undefined);
    }
  }

  /** One attempt's request, with the headers of the moment and `Last-Event-ID`. */
  async #request(signal: AbortSignal): Promise<Response> {
    const init = this.#init;
    const given = typeof init.headers === "function" ? await init.headers() : init.headers;
    const headers = new Headers(given);
    if (!headers.has("accept")) headers.set("accept", "text/event-stream");
    if (this.#lastEventId !== "") headers.set("last-event-id", this.#lastEventId);
    else headers.delete("last-event-id");
    const request: RequestInit = { method: init.method ?? "GET", headers, signal };
    if (init.body !== undefined) request.body = init.body as BodyInit | null;
    if (init.credentials !== undefined) request.credentials = init.credentials;
    // Called bare: a browser's fetch throws when called as a method of another object.
    const fetch = this.#fetch;
    return await fetch(this.url, request);
  }

  /** Reads one stream to its end, raising its events. */
  async #read(body: ReadableStream<Uint8Array>, attempt: AbortSignal): Promise<void> {
    const reader = body.getReader();
    this.#reader = reader;
    const decoder = new TextDecoder();
    const parser = createEventStreamParser(
      (type, data, id, retry) => this.#receive(parser, type, data, id, retry),
      {
        onRetry: (retry) => {
          this.#retry = retry;
        },
      },
      this.#lastEventId,
    );
    try {
      while (this.#state === OPEN && !attempt.aborted) {
        const { done, value } = await reader.read();
        if (done) {
          parser.feed(decoder.decode());
          parser.end();
          if (this.#state === OPEN && !attempt.aborted) this.#lastEventId = parser.lastEventId;
          return;
        }
        parser.feed(decoder.decode(value, { stream: true }));
        const backlog = this.#iterator?.backlog();
        if (backlog !== undefined) await backlog;
        // Also an id on an event without data, which EventSource keeps too; but not once events
        // of this chunk went undelivered (a listener closed or reconnected).
        if (this.#state === OPEN && !attempt.aborted) this.#lastEventId = parser.lastEventId;
      }
    } finally {
      this.#reader = undefined;
      reader.cancel().then(undefined, () => {});
    }
  }

  #receive(
    parser: EventStreamParser,
    type: string,
    text: string,
    id: string | undefined,
    retry: number | undefined,
  ): void {
    // close() or reconnect() from a listener: nothing more from this stream.
    if (this.#state !== OPEN || this.#dropped) return;
    const lastEventId = parser.lastEventId;
    this.#lastEventId = lastEventId;
    this.#failures = 0;
    let name = type;
    let data: unknown;
    if (type === this.#staleType) {
      name = "stale";
      data = parseStale(text);
    } else {
      try {
        data = parseData(this.#parsers, type, text);
      } catch (error) {
        // The server broke the event map's contract: skipping the event would lose it for good.
        this.#fatal(error, 200);
        return;
      }
    }
    this.#iterator?.push({ type: name, data, id, lastEventId, retry } as ConnectionEventOf<Events>);
    if (this.#listened.has(name)) {
      this.dispatchEvent(new MessageEvent(name, { data, lastEventId, origin: this.#origin }));
    }
  }

  /** Reports a failed attempt or a dropped stream, and waits before the next attempt. */
  async #retryLater(
    error: unknown,
    status: number | undefined,
    after: number | undefined,
  ): Promise<void> {
    this.#failures++;
    if (this.#failures > this.#maxRetries) {
      this.#fatal(error, status);
      return;
    }
    const failures = this.#failures;
    const base =
      after ??
      (failures === 1
        ? this.#retry
        : Math.max(this.#retry, MIN_BACKOFF) * 2 ** Math.min(failures - 1, 30));
    const delay = Math.min(this.#maxRetryDelay, Math.round(base * (1 + JITTER * Math.random())));
    this.#state = CONNECTING;
    this.dispatchEvent(new ConnectionErrorEvent("error", { error, status, retryIn: delay }));
    if (this.#isClosed()) return;
    await new Promise<void>((resolve) => {
      this.#wait = { timer: setTimeout(resolve, delay), resolve };
    });
    this.#wait = undefined;
  }

  #isClosed(): boolean {
    return this.#state === CLOSED;
  }

  /** Ends a wait for the next attempt at once. */
  #interrupt(): void {
    const wait = this.#wait;
    if (wait === undefined) return;
    this.#wait = undefined;
    clearTimeout(wait.timer);
    wait.resolve();
  }

  #fatal(error: unknown, status: number | undefined): void {
    this.#end({ reason: "error", error, ...(status === undefined ? {} : { status }) }, true);
  }

  /** Ends everything once: the attempt, the body, the wait, the signal's listener, the loop. */
  #end(end: ConnectionEnd, report = false): void {
    if (this.#isClosed()) return;
    this.#state = CLOSED;
    this.#attempt?.abort();
    this.#attempt = undefined;
    this.#reader?.cancel().then(undefined, () => {});
    this.#interrupt();
    this.#signal?.removeEventListener("abort", this.#onAbort);
    const status = end.status ?? this.#status;
    const final: ConnectionEnd = status === undefined ? end : { ...end, status };
    if (report) {
      this.dispatchEvent(new ConnectionErrorEvent("error", { error: end.error, status }));
    }
    this.#iterator?.end(end.reason === "error" ? { error: end.error } : undefined);
    this.#resolveClosed(final);
  }
}

/** A `Channel`'s stale event's data: `{"reason":"expired"}` or `{"reason":"unknown"}`. */
function parseStale(text: string): StaleData {
  try {
    const data = JSON.parse(text) as Partial<StaleData> | null;
    if (data?.reason === "expired" || data?.reason === "unknown") return { reason: data.reason };
  } catch {
    // Not a Channel's: still a stale position, for a reason we cannot tell.
  }
  return { reason: "unknown" };
}

/**
 * Opens a resuming event stream over `fetch`: `EventSource`, with a method, headers, a body, a
 * signal and typed events.
 *
 * The connection starts at once. When the stream drops or ends, it reconnects after the server's
 * `retry:` (or `retry`), waiting up to a quarter longer at random, never over `maxRetryDelay`,
 * and sends `Last-Event-ID` every time, so a `Channel` replays exactly what was missed. Network
 * errors, `429`, `408` and `5xx` are retried with exponential backoff (`Retry-After` honoured):
 * each failure in a row without an event doubles the wait, from at least 100 ms on the second;
 * `204` ends it for good, as do other statuses, a `200` that is not `text/event-stream`, and
 * `maxRetries` failures in a row. Aborting `signal` (or `close()`) ends everything: the pending
 * fetch, the body, the timer, the signal's listener; it never reconnects after that. Nothing it
 * does can cause an unhandled rejection.
 *
 * @typeParam Events The server's event map (`ServerSentEventTarget<Events>`): each event's `data`
 *   is typed by its type; types whose data is not a string need a `parse` entry.
 * @param url Where the stream is; relative to the page in a browser.
 * @param init The request (`method`, `headers`, `body`, `credentials`, `signal`), the reconnect
 *   policy, `parse` per type, and a `fetch` to use.
 * @returns The connection: an `EventTarget` and an async iterable of events.
 * @throws {TypeError} If `url` is not a valid URL, or an option has the wrong type (a
 *   `ReadableStream` body, which cannot be sent twice, included).
 * @throws {RangeError} If `retry`, `maxRetryDelay` or `maxRetries` is not a non-negative integer.
 *
 * @example A POST token stream
 * ```ts
 * import { connect } from "sendevents/client";
 *
 * interface Completion {
 *   token: string;
 *   done: { tokens: number };
 * }
 * const connection = connect<Completion>("https://example.com/complete", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: JSON.stringify({ prompt: "Hello" }),
 *   parse: { done: "json" },
 * });
 * for await (const event of connection) {
 *   if (event.type === "token") console.log(event.data);
 *   if (event.type === "done") break; // closes the connection
 * }
 * ```
 */
export function connect<Events extends object = TextEvents>(
  url: string | URL,
  ...[init]: OptionsArgument<Events, ConnectInit<Events>>
): EventConnection<Events> {
  const resolved = resolveUrl(url);
  if (init !== undefined && (typeof init !== "object" || init === null)) {
    throw new TypeError(`Cannot connect: init must be an object, received ${describe(init)}`);
  }
  const options = (init ?? {}) as ConnectInit<Events> & { parse?: unknown };
  const parsers = toDataParsers(options.parse, "Cannot connect");
  const signal = checkSignal(options.signal, "Cannot connect");
  if (options.fetch !== undefined && typeof options.fetch !== "function") {
    throw new TypeError(
      `Cannot connect: "fetch" must be a function, received ${describe(options.fetch)}`,
    );
  }
  const headers = options.headers;
  if (
    headers !== undefined &&
    typeof headers !== "function" &&
    (typeof headers !== "object" || headers === null)
  ) {
    throw new TypeError(
      `Cannot connect: "headers" must be headers or a function, received ${describe(headers)}`,
    );
  }
  const body = options.body as unknown;
  if (
    body !== undefined &&
    body !== null &&
    typeof body === "object" &&
    typeof (body as ReadableStream).getReader === "function"
  ) {
    throw new TypeError(
      "Cannot connect: the body cannot be a ReadableStream, which could not be sent again on reconnect",
    );
  }
  const checked: ConnectOptions = {
    ...options,
    method: checkString(options.method, "method", "GET"),
    lastEventId: checkString(options.lastEventId, "lastEventId", ""),
    retry: checkDelay(options.retry, "retry", DEFAULT_RETRY),
    maxRetryDelay: checkDelay(options.maxRetryDelay, "maxRetryDelay", DEFAULT_MAX_RETRY_DELAY),
    maxRetries:
      options.maxRetries === undefined || options.maxRetries === Number.POSITIVE_INFINITY
        ? Number.POSITIVE_INFINITY
        : checkInteger(
            "Cannot connect",
            "maxRetries",
            options.maxRetries,
            0,
            undefined,
            "Infinity",
          ),
    staleEventType: checkString(options.staleEventType, "staleEventType", "stale"),
  };
  if (signal !== undefined) checked.signal = signal;
  return createConnection<Events>(resolved, checked, parsers);
}
