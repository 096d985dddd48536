import {
  encodeFrame,
  formatComment,
  formatEvent,
  KEEP_ALIVE_FRAME,
  serializeData,
} from "./format.js";
import {
  encodeServerSentEvent,
  ServerSentEvent,
  type ServerSentEventInit,
} from "./server-sent-event.js";
import { type CloseReason, StreamCloseEvent } from "./stream-close-event.js";

/** The default `keepAlive`: under Bun's 10 s idle timeout, and cheap. */
export const DEFAULT_KEEP_ALIVE = 5_000;
/** The default `highWaterMark`: `ready` waits once this many bytes are queued. */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;
/** The default `maxBufferedAmount`: a client this far behind is closed with `"overflow"`. */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 1024 * 1024;

const RESOLVED: Promise<void> = Promise.resolve();
const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

/** Options that shape a target's stream. */
export interface ServerSentEventTargetOptions {
  /**
   * Milliseconds of silence after which a comment is sent, so proxies and runtimes keep the
   * connection and a vanished client is noticed on the next write. `false` turns it off.
   * @default 5000
   */
  keepAlive?: number | false;
  /**
   * Bytes queued (not yet taken by the runtime) at which `ready` starts waiting.
   * @default 65536
   */
  highWaterMark?: number;
  /**
   * Bytes queued at which the client is deemed stuck: the stream is closed with reason
   * `"overflow"` instead of letting memory grow. A client that reconnects resumes from its
   * `Last-Event-ID`.
   * @default 1048576
   */
  maxBufferedAmount?: number;
}

/** What the target knows of its request. */
interface TargetInit extends ServerSentEventTargetOptions {
  lastEventId: string;
}

/** A listener of the target's own `close` event. */
export type StreamCloseListener =
  | ((event: StreamCloseEvent) => void)
  | { handleEvent(event: StreamCloseEvent): void };

/** A listener of events of one type, before they are sent. */
export type ServerSentEventListener<Type extends string, Data> =
  | ((event: ServerSentEvent<Type, Data>) => void)
  | { handleEvent(event: ServerSentEvent<Type, Data>): void };

type MessageData<Events> = "message" extends keyof Events ? Events["message"] : unknown;

let createTarget: (init: TargetInit) => {
  target: ServerSentEventTarget;
  readable: ReadableStream<Uint8Array>;
  closed: Promise<void>;
};
let bindRequest: (target: ServerSentEventTarget, signal: AbortSignal | undefined) => void;
let endTarget: (
  target: ServerSentEventTarget,
  reason: CloseReason,
  error?: unknown,
) => Promise<void>;
const CONSTRUCT = Symbol("construct");

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function checkSize(name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(
      `Cannot send events: "${name}" must be an integer of at least ${min}, received ${String(value)}`,
    );
  }
  return value;
}

/**
 * The server's end of an event stream, made by {@linkcode sendEvents}. Events dispatched on it
 * are first raised on its own listeners and then sent to the client's `EventSource`.
 *
 * The queue between the target and the runtime is bounded in bytes: `bufferedAmount` tells how
 * much is waiting, `ready` waits until it is under `highWaterMark`, and a client so slow that it
 * passes `maxBufferedAmount` is closed with reason `"overflow"`.
 *
 * The `close` event fires exactly once, whichever way the stream ends: `close()`, the client
 * leaving, an overflow or an error. After it, `dispatch*` send nothing and return `false`.
 *
 * @typeParam Events Maps each event type to its data type, so `dispatchEvent` is type-checked.
 *
 * @example Stream a clock until the client leaves
 * ```ts
 * import { sendEvents } from "sendevents";
 *
 * function handler(request: Request): Response {
 *   const { response, target } = sendEvents(request);
 *   const timer = setInterval(() => target.dispatchMessage({ now: Date.now() }), 1000);
 *   target.addEventListener("close", () => clearInterval(timer));
 *   return response;
 * }
 * ```
 */
export class ServerSentEventTarget<
  Events extends object = Record<string, unknown>,
> extends EventTarget {
  #state = OPEN;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #pullPending = false;
  #flushScheduled = false;
  #highWaterMark: number;
  #maxBufferedAmount: number;
  #abort = new AbortController();
  #ready: Promise<void> = RESOLVED;
  #resolveReady: (() => void) | undefined;
  #resolveClosed!: () => void;
  #closed: Promise<void>;
  #keepAliveTimer: ReturnType<typeof setInterval> | undefined;
  #active = false;
  #cleanups: (() => void)[] = [];
  #lastEventId: string;
  #listened = new Set<string>();
  #readable: ReadableStream<Uint8Array>;

  static {
    createTarget = (init) => {
      const target = new ServerSentEventTarget(CONSTRUCT, init);
      return { target, readable: target.#readable, closed: target.#closed };
    };
  }

  private constructor(key: typeof CONSTRUCT, init: TargetInit) {
    if (key !== CONSTRUCT) {
      throw new TypeError(
        "Cannot construct ServerSentEventTarget: use sendEvents(request) instead",
      );
    }
    super();
    this.#lastEventId = init.lastEventId;
    this.#highWaterMark = checkSize(
      "highWaterMark",
      init.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      0,
    );
    this.#maxBufferedAmount = checkSize(
      "maxBufferedAmount",
      init.maxBufferedAmount ?? DEFAULT_MAX_BUFFERED_AMOUNT,
      Math.max(1, this.#highWaterMark),
    );
    const keepAlive = init.keepAlive ?? DEFAULT_KEEP_ALIVE;
    if (keepAlive !== false) checkSize("keepAlive", keepAlive, 1);
    this.#closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
    // High-water mark 0: the runtime's read is the only thing that pulls, so a pull means "the
    // runtime took everything so far", and all events queued since the last read leave as one chunk.
    this.#readable = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => {
          this.#pullPending = true;
          if (this.#queuedBytes > 0 || this.#state === CLOSING) this.#flush();
        },
        cancel: () => {
          this.#finish("client");
        },
      },
      { highWaterMark: 0 },
    );
    this.#push(KEEP_ALIVE_FRAME);
    if (keepAlive !== false) {
      this.#keepAliveTimer = setInterval(this.#keepAlive, keepAlive);
    }
  }

  /** `true` once the stream has ended; `dispatch*` then send nothing. */
  get closed(): boolean {
    return this.#state === CLOSED;
  }

  /** Aborted when the stream ends: pass it to `fetch`, timers or sources feeding this target. */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /**
   * The request's `Last-Event-ID` header: the id of the last event the client saw before it
   * reconnected, or `""`. Values over 1024 characters or with CR, LF or NUL read as `""`.
   */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Bytes dispatched but not yet taken by the runtime. */
  get bufferedAmount(): number {
    return this.#queuedBytes;
  }

  /**
   * Resolved while `bufferedAmount` is under `highWaterMark`; otherwise resolves once it drains
   * below it, or the stream ends. A producer that awaits it between events never outruns its client.
   *
   * @example Produce only as fast as the client reads
   * ```ts
   * import { sendEvents } from "sendevents";
   *
   * const { target } = sendEvents(new Request("http://localhost/"));
   * async function produce(rows: AsyncIterable<unknown>) {
   *   for await (const row of rows) {
   *     await target.ready;
   *     if (!target.dispatchMessage(row)) break;
   *   }
   * }
   * ```
   */
  get ready(): Promise<void> {
    return this.#ready;
  }

  /**
   * Raises `event` on this target's listeners, then sends it to the client unless a listener
   * cancelled it with `preventDefault()`.
   *
   * Events of type `"close"` are sent but not raised here, where `"close"` means the stream ended.
   *
   * @returns `false` when the event was cancelled or the stream has ended, else `true`.
   */
  override dispatchEvent<Type extends keyof Events & string>(
    event: ServerSentEvent<Type, Events[Type]>,
  ): boolean {
    if (!(event instanceof ServerSentEvent)) {
      // A plain Event is only raised locally, as on any EventTarget.
      return super.dispatchEvent(event);
    }
    if (this.#state !== OPEN) return false;
    if (event.type !== "close" && this.#listened.has(event.type)) {
      if (!super.dispatchEvent(event)) return false;
      if (this.#state !== OPEN) return false;
    }
    return this.#push(encodeServerSentEvent(event));
  }

  /**
   * Sends a `message` event: what `EventSource.onmessage` receives.
   *
   * Strings go out unchanged; other values are JSON-encoded. CR, LF and CRLF split the payload
   * into several `data:` lines, which `EventSource` joins again with "\n".
   *
   * @param data Becomes `MessageEvent.data` on the client.
   * @param init An optional `id` and `retry` for the event.
   * @returns `false` when the stream has ended or a listener cancelled the event, else `true`.
   * @throws {TypeError} If `data` has no JSON form (`undefined`, a cycle, a BigInt).
   *
   * @example Send a JSON payload
   * ```ts
   * import { sendEvents } from "sendevents";
   *
   * const { target } = sendEvents(new Request("http://localhost/"));
   * target.dispatchMessage({ price: 42 });
   * ```
   */
  dispatchMessage(data: MessageData<Events>, init?: ServerSentEventInit): boolean {
    if (this.#listened.has("message") || init?.cancelable) {
      const event = new ServerSentEvent("message", data, init);
      if (this.#state !== OPEN) return false;
      if (!super.dispatchEvent(event)) return false;
      if (this.#state !== OPEN) return false;
      return this.#push(encodeServerSentEvent(event));
    }
    // Nobody listens: skip building an Event, but validate exactly as the constructor does.
    if (init !== undefined) {
      const event = new ServerSentEvent("message", data, init);
      return this.#state === OPEN && this.#push(encodeServerSentEvent(event));
    }
    const text = serializeData(data, 'Cannot create event "message"');
    if (this.#state !== OPEN) return false;
    return this.#push(encodeFrame(formatEvent({ type: "message", data: text })));
  }

  /**
   * Sends a comment: every line prefixed with `:`. `EventSource` raises nothing for it; it is
   * for debugging and for keeping a connection alive.
   *
   * @returns `false` when the stream has ended, else `true`.
   * @throws {TypeError} If `text` is not a string.
   */
  dispatchComment(text: string): boolean {
    if (typeof text !== "string") {
      throw new TypeError(
        `Cannot send comment: the text must be a string, received ${typeof text}`,
      );
    }
    if (this.#state !== OPEN) return false;
    return this.#push(encodeFrame(formatComment(text)));
  }

  /**
   * Ends the stream: everything already dispatched is handed to the runtime, then the body is
   * closed and `close` fires with reason `"server"`. Calling it again returns the same promise.
   *
   * @returns A promise that resolves once the stream has ended (for whatever reason).
   */
  close(): Promise<void> {
    if (this.#state === OPEN) {
      this.#state = CLOSING;
      this.#stopKeepAlive();
      if (this.#queuedBytes === 0) this.#flush();
      // Otherwise the next pull hands over the rest and closes.
    }
    return this.#closed;
  }

  override addEventListener(
    type: "close",
    listener: StreamCloseListener | null,
    options?: AddEventListenerOptions | boolean,
  ): void;
  override addEventListener<Type extends keyof Events & string>(
    type: Type,
    listener: ServerSentEventListener<Type, Events[Type]> | null,
    options?: AddEventListenerOptions | boolean,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: AddEventListenerOptions | boolean,
  ): void;
  override addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: AddEventListenerOptions | boolean,
  ): void {
    // Remember which types have ever had a listener: others skip the local dispatch entirely.
    if (listener) this.#listened.add(String(type));
    super.addEventListener(type, listener, options);
  }

  /** Queues bytes for the client. The only way anything reaches the stream. */
  #push(bytes: Uint8Array): boolean {
    const size = this.#queuedBytes + bytes.byteLength;
    if (size > this.#maxBufferedAmount) {
      this.#fail("overflow");
      return false;
    }
    this.#queue.push(bytes);
    this.#queuedBytes = size;
    this.#active = true;
    if (this.#pullPending) {
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        queueMicrotask(this.#flushTask);
      }
    } else if (size >= this.#highWaterMark && this.#resolveReady === undefined) {
      this.#ready = new Promise((resolve) => {
        this.#resolveReady = resolve;
      });
    }
    return true;
  }

  #flushTask = (): void => {
    this.#flushScheduled = false;
    if (this.#state !== CLOSED) this.#flush();
  };

  /** Hands the whole queue to a waiting read as one chunk; completes a pending close. */
  #flush(): void {
    if (this.#queuedBytes > 0) {
      if (!this.#pullPending) return;
      const queue = this.#queue;
      const chunk = queue.length === 1 ? queue[0]! : concat(queue, this.#queuedBytes);
      this.#queue = [];
      this.#queuedBytes = 0;
      this.#pullPending = false;
      this.#controller.enqueue(chunk);
      this.#releaseReady();
    }
    if (this.#state === CLOSING) {
      this.#controller.close();
      this.#finish("server");
    }
  }

  #releaseReady(): void {
    const resolve = this.#resolveReady;
    if (resolve !== undefined) {
      this.#resolveReady = undefined;
      this.#ready = RESOLVED;
      resolve();
    }
  }

  #keepAlive = (): void => {
    if (!this.#active && this.#state === OPEN) this.#push(KEEP_ALIVE_FRAME);
    this.#active = false;
  };

  #stopKeepAlive(): void {
    if (this.#keepAliveTimer !== undefined) {
      clearInterval(this.#keepAliveTimer);
      this.#keepAliveTimer = undefined;
    }
  }

  /** Ends the stream at once, dropping what is queued: the runtime aborts the connection. */
  #fail(reason: CloseReason, error?: unknown): void {
    if (this.#state === CLOSED) return;
    try {
      this.#controller.error(error ?? new Error(`Event stream closed: ${reason}`));
    } catch {
      // Already closed or cancelled by the runtime: nothing left to end.
    }
    this.#finish(reason, error);
  }

  /** Called once a stream has ended for any reason: releases everything, then fires `close`. */
  #finish(reason: CloseReason, error?: unknown): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#stopKeepAlive();
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#pullPending = false;
    const cleanups = this.#cleanups;
    this.#cleanups = [];
    for (const cleanup of cleanups) cleanup();
    this.#releaseReady();
    this.#abort.abort(new DOMException(`Event stream closed: ${reason}`, "AbortError"));
    super.dispatchEvent(new StreamCloseEvent("close", { reason, error }));
    this.#resolveClosed();
  }

  static {
    bindRequest = (target, signal) => target.#bindRequest(signal);
    endTarget = (target, reason, error) => {
      if (reason === "server") return target.close();
      if (reason === "client") target.#leave();
      else target.#fail(reason, error);
      return target.#closed;
    };
  }

  /** Ties the stream to the request: an aborted request means the client left. */
  #bindRequest(signal: AbortSignal | undefined): void {
    if (signal === undefined) return;
    if (signal.aborted) {
      // Deferred, so that a `close` listener added right after sendEvents() still hears it.
      queueMicrotask(() => this.#leave());
      return;
    }
    const onAbort = (): void => this.#leave();
    signal.addEventListener("abort", onAbort, { once: true });
    this.#cleanups.push(() => signal.removeEventListener("abort", onAbort));
  }

  /** The client is gone: end the body quietly, so the runtime stops waiting on it. */
  #leave(): void {
    if (this.#state === CLOSED) return;
    try {
      this.#controller.close();
    } catch {
      // The runtime cancelled the body already.
    }
    this.#finish("client");
  }
}

/** @internal Used by sendEvents and adapters; not exported from the package. */
export const internals = {
  create: (init: TargetInit) => createTarget(init),
  bindRequest: (target: ServerSentEventTarget, signal: AbortSignal | undefined) =>
    bindRequest(target, signal),
  end: (target: ServerSentEventTarget, reason: CloseReason, error?: unknown) =>
    endTarget(target, reason, error),
};
