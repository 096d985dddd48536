import { checkInteger, MAX_DELAY } from "./check-integer.ts";
import { describe } from "./describe.ts";
import {
  encodeFrame,
  formatComment,
  formatEvent,
  formatRetry,
  KEEP_ALIVE_FRAME,
  serializeData,
} from "./format.ts";
import { KeepAliveMember, KeepAliveWheel } from "./keep-alive.ts";
import { counters } from "./metrics.ts";
import { type PipeFromOptions, pipeFrom } from "./pipe-from.ts";
import {
  isEncoded as encoded,
  encodeServerSentEvent,
  eventForListeners,
  fieldsOf,
  ownEvent,
  ServerSentEvent,
  type ServerSentEventInit,
} from "./server-sent-event.ts";
import { type CloseReason, StreamCloseEvent } from "./stream-close-event.ts";
import type { EventListenerInput, ListenerOptions } from "./web-types.ts";

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

/** Options for {@linkcode ServerSentEventTarget.close}. */
export interface CloseOptions {
  /**
   * The most milliseconds to wait for the client to take what is queued; then the stream is
   * aborted with reason `"error"`. By default `close()` waits as long as that takes.
   */
  timeout?: number;
}

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
  /** The request carried a `Last-Event-ID` that cannot be an id (`lastEventId` reads `""`). */
  lastEventIdRejected?: boolean;
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

/**
 * What drains a target's queue: the response body's `ReadableStream` on the fetch path, or an
 * adapter that writes straight to a socket. The target calls it; it calls `internals.pull` when it
 * can take more.
 */
export interface TargetSink {
  /** Bytes (or the end) are waiting: pull when you can. Called once until the next pull. */
  wake(): void;
  /** Takes everything queued since the last pull, as one chunk. */
  write(chunk: Uint8Array): void;
  /** Ends the body normally: everything dispatched has been written. */
  end(): void;
  /** Ends the body abruptly (overflow, error): the client must see a failed stream, not an end. */
  abort(error: unknown): void;
  /** The client is gone: release the body quietly. */
  leave(): void;
  /**
   * The first keep-alive tick (or a `close()` that must wait) found the body never read: from now
   * on the sink must not be what keeps an unsent body alive (see `UNSENT`).
   */
  unread?(): void;
}

/**
 * A target's entry in a group it joined (a `StreamGroup`, a `Channel`): told when the stream
 * ends, so that the group lets it go without a `close` listener of its own (a stream in many
 * channels would otherwise pass `EventTarget`'s listener warning threshold).
 */
export interface Membership {
  /** The stream has ended: leave the group. Called once, before `close` fires. */
  streamEnded(): void;
}

let createTarget: (init: TargetInit) => ServerSentEventTarget;
let attachSink: (target: ServerSentEventTarget, sink: TargetSink) => void;
let pullTarget: (target: ServerSentEventTarget) => void;
let closedPromise: (target: ServerSentEventTarget) => Promise<void>;
let endTarget: (
  target: ServerSentEventTarget,
  reason: CloseReason,
  error?: unknown,
) => Promise<void>;
let sendRetry: (target: ServerSentEventTarget, retry: number) => boolean;
let isOpen: (target: ServerSentEventTarget) => boolean;
let discardTarget: (target: ServerSentEventTarget) => void;
let lastEventIdRejected: (target: ServerSentEventTarget) => boolean;
let isWaiting: (target: ServerSentEventTarget) => boolean;
let pingTarget: (target: ServerSentEventTarget) => void;
let settleTarget: (target: ServerSentEventTarget) => void;
let watchRequest: (target: ServerSentEventTarget, request: Request) => void;
let onTargetEnd: (target: ServerSentEventTarget, cleanup: () => void) => void;
let joinGroup: (target: ServerSentEventTarget, group: object, entry: Membership) => boolean;
let entryIn: (target: ServerSentEventTarget, group: object) => Membership | undefined;
let partGroup: (target: ServerSentEventTarget, group: object) => void;

/** A target's place on its keep-alive wheel. */
class Pulse extends KeepAliveMember {
  readonly #target: ServerSentEventTarget;

  constructor(target: ServerSentEventTarget) {
    super();
    this.#target = target;
  }

  ping(): void {
    pingTarget(this.#target);
  }

  settle(): void {
    settleTarget(this.#target);
  }
}
const CONSTRUCT = Symbol("construct");

/**
 * Frames shorter than this are copied into a block while they wait, rather than queued one object
 * each: a queued `Uint8Array` costs some 200 bytes of heap and backing store whatever its length,
 * so a stalled client sent tiny events (comments, tokens) would otherwise hold fifty times
 * `maxBufferedAmount`. Longer frames are queued as they are (a channel's members share them).
 */
const COPY_BELOW = 1024;
/** The first block's size; each next one doubles, up to {@linkcode MAX_BLOCK}. */
const MIN_BLOCK = 256;
/** Listener types a target tells apart before it raises every event locally: see `#listened`. */
const MAX_LISTENED_TYPES = 16;
/** The largest block: a stalled queue is a list of blocks this size (plus any long frames). */
const MAX_BLOCK = 16 * 1024;

function concat(chunks: Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
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
  /**
   * Short frames queued after `#queue`'s, copied together (see {@linkcode COPY_BELOW}); the bytes
   * in use are `#blockUsed`. Joins the queue when full, before a long frame, or on a pull.
   */
  #block: Uint8Array | undefined;
  #blockUsed = 0;
  #sink: TargetSink | undefined;
  /** `wake()` was called and no pull has happened since. */
  #woken = false;
  #highWaterMark: number;
  #maxBufferedAmount: number;
  #abort: AbortController | undefined;
  #closeReason: CloseReason | undefined;
  #ready: Promise<void> = RESOLVED;
  #resolveReady: (() => void) | undefined;
  #closed: Promise<void> | undefined;
  #resolveClosed: (() => void) | undefined;
  #wheel: KeepAliveWheel | undefined;
  #pulse: KeepAliveMember | undefined;
  #cleanups: (() => void)[] | undefined;
  /**
   * The groups (`StreamGroup`s, `Channel`s) this target has joined, each with its entry there:
   * `[group, entry, group, entry, ...]`. Kept here rather than in a map of the group's, so that a
   * long-lived group holds no table that points at ended streams (see `linked-list.ts`).
   */
  #groups: (object | Membership)[] | undefined;
  #lastEventId: string;
  #lastEventIdRejected: boolean;
  /** The request whose `signal` is watched from the first keep-alive tick on. */
  #request: Request | undefined;
  /**
   * Types that have ever had a listener; the others skip the local dispatch. `true` once there
   * have been more than {@linkcode MAX_LISTENED_TYPES}: every type is raised then, rather than
   * keep the name of every type ever listened to (a type per request awaited, say) and scan them
   * all on every dispatch.
   */
  #listened: string | string[] | true | undefined;

  static {
    createTarget = (init) => new ServerSentEventTarget(CONSTRUCT, init);
    attachSink = (target, sink) => target.#attach(sink);
    pullTarget = (target) => target.#pull();
    closedPromise = (target) => target.#closedPromise();
    pingTarget = (target) => target.#ping();
    settleTarget = (target) => target.#settle();
    watchRequest = (target, request) => target.#watchRequest(request);
    joinGroup = (target, group, entry) => target.#join(group, entry);
    entryIn = (target, group) => target.#entryIn(group);
    partGroup = (target, group) => target.#part(group);
    onTargetEnd = (target, cleanup) => {
      if (target.#state === CLOSED) cleanup();
      else target.#onEnd(cleanup);
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
    this.#lastEventIdRejected = init.lastEventIdRejected === true;
    const action = "Cannot send events";
    this.#highWaterMark = checkInteger(
      action,
      "highWaterMark",
      init.highWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      0,
    );
    // The stream opens with a comment, and keep-alives are the same comment: a bound smaller than
    // it would end every stream at once.
    this.#maxBufferedAmount = checkInteger(
      action,
      "maxBufferedAmount",
      init.maxBufferedAmount ?? DEFAULT_MAX_BUFFERED_AMOUNT,
      Math.max(KEEP_ALIVE_FRAME.byteLength, this.#highWaterMark),
    );
    const keepAlive = init.keepAlive ?? DEFAULT_KEEP_ALIVE;
    if (keepAlive !== false) {
      checkInteger(action, "keepAlive", keepAlive, 1, MAX_DELAY, "false to send none");
    }
    counters.open++;
    counters.opened++;
    // The body opens with a comment, which clients ignore: runtimes that hold the headers until
    // the first body byte (Bun, workerd) then send them at once.
    this.#push(KEEP_ALIVE_FRAME);
    if (keepAlive !== false) {
      const wheel = KeepAliveWheel.for(keepAlive);
      const pulse = new Pulse(this as ServerSentEventTarget);
      wheel.add(pulse);
      this.#wheel = wheel;
      this.#pulse = pulse;
    }
  }

  /** `true` once the stream has ended; `dispatch*` then send nothing. */
  get closed(): boolean {
    return this.#state === CLOSED;
  }

  /** Aborted when the stream ends: pass it to `fetch`, timers or sources feeding this target. */
  get signal(): AbortSignal {
    // Made on first use: most streams never need one.
    if (this.#abort === undefined) {
      this.#abort = new AbortController();
      if (this.#state === CLOSED) this.#abort.abort(closeError(this.#closeReason!));
    }
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
   * @throws {TypeError} If `event` is not a `ServerSentEvent`: a plain `Event` has no data to send,
   *   and raising it locally only would look like sending it.
   */
  override dispatchEvent<Type extends keyof Events & string>(
    dispatched: ServerSentEvent<Type, Events[Type]>,
  ): boolean {
    // Another copy of the package's event is sent too, as an event of ours.
    const event = ownEvent(dispatched);
    if (event === undefined) {
      throw new TypeError(
        `Cannot dispatch event: expected a ServerSentEvent, received ${describeEvent(dispatched)}; send data with new ServerSentEvent(type, data)`,
      );
    }
    if (this.#state !== OPEN) return this.#refuse();
    // The validated type, which the listeners are raised with too: `event.type` can be shadowed.
    const { type } = fieldsOf(event);
    if (type !== "close" && this.#hears(type)) {
      // Each target's listeners get a clean event: one target's preventDefault() or
      // stopImmediatePropagation() must not silence the next (a channel sends one event to all).
      if (!super.dispatchEvent(eventForListeners(event))) return false;
      if (this.#state !== OPEN) return false;
    }
    if (!encoded(event) && this.#cannotFit(fieldsOf(event).data)) return this.#refuse();
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
    if (this.#hears("message") || init?.cancelable) {
      const event = new ServerSentEvent("message", data, init);
      if (this.#state !== OPEN) return this.#refuse();
      if (!super.dispatchEvent(event)) return false;
      if (this.#state !== OPEN) return this.#refuse();
      return this.#push(encodeServerSentEvent(event));
    }
    // Nobody listens: skip building an Event, but validate exactly as the constructor does.
    if (init !== undefined) {
      const event = new ServerSentEvent("message", data, init);
      if (this.#state !== OPEN) return this.#refuse();
      return this.#push(encodeServerSentEvent(event));
    }
    const text = serializeData(data, 'Cannot create event "message"');
    if (this.#state !== OPEN) return this.#refuse();
    if (this.#cannotFit(text)) return this.#refuse();
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
    if (this.#state !== OPEN) return this.#refuse();
    if (this.#cannotFit(text)) return this.#refuse();
    return this.#push(encodeFrame(formatComment(text)));
  }

  /**
   * Sends every item of an async iterable or a `ReadableStream` (a model's tokens, a database
   * cursor) as an event, at the pace the client reads (`ready` is awaited between items), then
   * closes the stream when the source ends.
   *
   * Each item is the data of a `message` event unless `options.event` / `options.id` pick a type
   * and an id, or `options.map` builds the event. When the client leaves first, the source is
   * cancelled (`return()` / `cancel()`), unless `preventCancel` asks to read it to its end.
   *
   * @param source What to send.
   * @param options `map`, `event`, `id`, `preventClose`, `preventCancel`, `signal`.
   * @returns A promise that settles when piping ends. It never rejects: a source that throws (or
   *   an item that cannot be sent) ends the stream with reason `"error"`, and the `close` event
   *   carries the error.
   * @throws {TypeError} If `source` is neither, is locked, or an option has the wrong type.
   *
   * @example Stream tokens as they are generated
   * ```ts
   * import { sendEvents } from "sendevents";
   *
   * async function* tokens() {
   *   yield* ["Hello", ",", " world"];
   * }
   * const { response, target } = sendEvents(new Request("http://localhost/"));
   * void target.pipeFrom(tokens(), { event: "token" });
   * ```
   */
  pipeFrom<Item>(
    source: AsyncIterable<Item> | ReadableStream<Item>,
    options?: PipeFromOptions<Item, Events>,
  ): Promise<void> {
    return pipeFrom(this as ServerSentEventTarget, source, options as PipeFromOptions<Item>);
  }

  /**
   * Ends the stream: everything already dispatched is handed to the runtime, then the body is
   * closed and `close` fires with reason `"server"`. Calling it again returns the same promise.
   *
   * Handing over waits for the client to read: while nobody reads the body (a client that stopped
   * reading, a response that was never returned), the promise waits too. `options.timeout` bounds
   * that wait: once it passes, the stream is aborted with reason `"error"`.
   *
   * @param options `timeout`: the most milliseconds to wait for the client to take what is queued.
   * @returns A promise that resolves once the stream has ended (for whatever reason).
   * @throws {RangeError} If `timeout` is not an integer from 0 to 2147483647.
   *
   * @example End a stream, giving a stalled client two seconds
   * ```ts
   * import { sendEvents } from "sendevents";
   *
   * const { target } = sendEvents(new Request("http://localhost/"));
   * target.dispatchMessage("bye");
   * await target.close({ timeout: 2000 }); // nobody reads here: aborted after 2 s
   * ```
   */
  close(options?: CloseOptions): Promise<void> {
    const timeout =
      options?.timeout === undefined
        ? undefined
        : checkInteger("Cannot close stream", "timeout", options.timeout, 0, MAX_DELAY);
    if (this.#state === OPEN) {
      this.#state = CLOSING;
      this.#stopKeepAlive();
      // What is queued is handed over first; the sink ends the body on the pull that empties it.
      if (this.#queuedBytes === 0) this.#end();
      else {
        // Waiting on the runtime now, with no keep-alive tick to come: watch the signal at once.
        this.#settle();
        this.#wake();
      }
    }
    if (timeout !== undefined && this.#state === CLOSING) this.#abortAfter(timeout);
    return this.#closedPromise();
  }

  /** Aborts the stream with reason `"error"` if `close()` has not completed within `ms`. */
  #abortAfter(ms: number): void {
    const timer = setTimeout(() => {
      this.#fail(
        "error",
        new Error(
          `Event stream closed: the client did not take what was queued within ${ms} ms of close()`,
        ),
      );
    }, ms);
    this.#onEnd(() => clearTimeout(timer));
  }

  /** Listens for `close`: raised exactly once, however the stream ended. */
  override addEventListener(
    type: "close",
    listener: StreamCloseListener | null,
    options?: ListenerOptions,
  ): void;
  /** Listens for the events of one type of the event map, as they are dispatched (before they are sent). */
  override addEventListener<Type extends keyof Events & string>(
    type: Type,
    listener: ServerSentEventListener<Type, Events[Type]> | null,
    options?: ListenerOptions,
  ): void;
  /** Listens for events of any type. */
  override addEventListener(
    type: string,
    listener: EventListenerInput,
    options?: ListenerOptions,
  ): void;
  /**
   * Listens for `close` and for the events dispatched on the target. A listener may cancel a
   * cancelable event with `preventDefault()`, and it is then not sent.
   *
   * @param type The event type.
   * @param listener A function or an object with `handleEvent`.
   * @param options `once`, `signal` and the other options of `EventTarget`'s.
   */
  override addEventListener(
    type: string,
    listener: EventListenerInput,
    options?: ListenerOptions,
  ): void {
    // Remember which types have ever had a listener: others skip the local dispatch entirely.
    if (listener) {
      // One type, or a few: a string or an array costs less than a Set on every stream.
      const name = String(type);
      const listened = this.#listened;
      if (listened === undefined) this.#listened = name;
      else if (typeof listened === "string") {
        if (listened !== name) this.#listened = [listened, name];
      } else if (listened !== true && !listened.includes(name)) {
        if (listened.length === MAX_LISTENED_TYPES) this.#listened = true;
        else listened.push(name);
      }
    }
    super.addEventListener(type, listener, options);
  }

  /** Queues bytes for the client. The only way anything reaches the stream. */
  #push(bytes: Uint8Array): boolean {
    const size = this.#queuedBytes + bytes.byteLength;
    if (size > this.#maxBufferedAmount) {
      this.#fail("overflow");
      return this.#refuse();
    }
    if (bytes.byteLength >= COPY_BELOW || (this.#queue.length === 0 && this.#block === undefined)) {
      // A long frame, or the only one (the client keeps up): queued as it is, no copy.
      this.#sealBlock();
      this.#queue.push(bytes);
    } else this.#copyToBlock(bytes);
    this.#queuedBytes = size;
    counters.queuedBytes += bytes.byteLength;
    if (bytes !== KEEP_ALIVE_FRAME) counters.eventsSent++;
    if (this.#pulse !== undefined) this.#pulse.lastTick = this.#wheel!.tick;
    if (size >= this.#highWaterMark && this.#resolveReady === undefined) {
      this.#ready = new Promise((resolve) => {
        this.#resolveReady = resolve;
      });
    }
    this.#wake();
    return true;
  }

  /** Appends a short frame to the block, growing it or starting the next one as needed. */
  #copyToBlock(bytes: Uint8Array): void {
    const length = bytes.byteLength;
    let block = this.#block;
    const used = this.#blockUsed;
    if (block === undefined || used + length > block.byteLength) {
      if (block !== undefined && block.byteLength < MAX_BLOCK && used + length <= MAX_BLOCK) {
        // Doubling keeps a block at most twice what it holds, so a few queued bytes stay cheap.
        const grown = new Uint8Array(
          Math.min(MAX_BLOCK, Math.max(block.byteLength * 2, used + length)),
        );
        grown.set(block.subarray(0, used));
        block = grown;
      } else {
        const full = block !== undefined;
        this.#sealBlock();
        block = new Uint8Array(full ? MAX_BLOCK : Math.max(MIN_BLOCK, length * 2));
      }
      this.#block = block;
    }
    block.set(bytes, this.#blockUsed);
    this.#blockUsed += length;
  }

  /** Moves the block's bytes to the end of the queue. */
  #sealBlock(): void {
    const block = this.#block;
    if (block !== undefined) {
      this.#queue.push(block.subarray(0, this.#blockUsed));
      this.#block = undefined;
      this.#blockUsed = 0;
    }
  }

  /**
   * Whether a frame carrying `text` cannot fit in the queue, which then overflows. UTF-8 takes at
   * least a byte per UTF-16 unit, so this is known before formatting and encoding the text: a
   * payload the bound refuses never costs its size several times over (a line per line break, then
   * the bytes) on the way to being refused.
   */
  #cannotFit(text: string): boolean {
    if (text.length <= this.#maxBufferedAmount - this.#queuedBytes) return false;
    this.#fail("overflow");
    return true;
  }

  /** Counts a dispatch that sent nothing because the stream had ended. */
  #refuse(): false {
    counters.drops++;
    return false;
  }

  #wake(): void {
    if (!this.#woken && this.#sink !== undefined) {
      this.#woken = true;
      this.#sink.wake();
    }
  }

  #attach(sink: TargetSink): void {
    if (this.#sink !== undefined) throw new TypeError("Cannot attach: the stream is being read");
    this.#sink = sink;
    if (this.#state === CLOSED) {
      // Ended before anything drained it (an overflow while the handler ran, say): the sink must
      // still give the client a definite end. A failure stays a failure, so that the client sees
      // a broken stream and reconnects; only a client that left is released quietly.
      const reason = this.#closeReason!;
      if (reason === "client") sink.leave();
      else if (reason === "server") sink.end();
      else sink.abort(closeError(reason));
      return;
    }
    this.#woken = true;
    sink.wake();
    // No keep-alive tick will come to let an unread body go: let it go now (it is held weakly,
    // and watched, until its first read).
    if (this.#pulse === undefined) sink.unread?.();
  }

  /** The sink can take more: hands it the whole queue as one chunk; completes a pending close. */
  #pull(): void {
    this.#woken = false;
    if (this.#state === CLOSED) return;
    const size = this.#queuedBytes;
    if (size > 0) {
      this.#sealBlock();
      const queue = this.#queue;
      const chunk = queue.length === 1 ? queue[0]! : concat(queue, size);
      counters.queuedBytes -= size;
      counters.bytesSent += size;
      queue.length = 0;
      this.#queuedBytes = 0;
      this.#sink!.write(chunk);
      this.#releaseReady();
    }
    if (this.#state === CLOSING) this.#end();
  }

  /** The queue is empty and `close()` was called: end the body, then the target. */
  #end(): void {
    if (this.#sink === undefined) return; // The first pull ends it.
    this.#sink.end();
    this.#finish("server");
  }

  #releaseReady(): void {
    const resolve = this.#resolveReady;
    if (resolve !== undefined) {
      this.#resolveReady = undefined;
      this.#ready = RESOLVED;
      resolve();
    }
  }

  #hears(type: string): boolean {
    const listened = this.#listened;
    return (
      listened === type ||
      listened === true ||
      (typeof listened === "object" && listened.includes(type))
    );
  }

  #ping(): void {
    if (this.#state === OPEN) this.#push(KEEP_ALIVE_FRAME);
  }

  #stopKeepAlive(): void {
    if (this.#pulse !== undefined) {
      this.#wheel!.delete(this.#pulse);
      this.#pulse = undefined;
      this.#wheel = undefined;
    }
  }

  #closedPromise(): Promise<void> {
    if (this.#closed === undefined) {
      if (this.#state === CLOSED) this.#closed = RESOLVED;
      else
        this.#closed = new Promise((resolve) => {
          this.#resolveClosed = resolve;
        });
    }
    return this.#closed;
  }

  /** Ends the stream at once, dropping what is queued: the runtime aborts the connection. */
  #fail(reason: CloseReason, error?: unknown): void {
    if (this.#state === CLOSED) return;
    this.#sink?.abort(error ?? new Error(`Event stream closed: ${reason}`));
    this.#finish(reason, error);
  }

  /** Called once a stream has ended for any reason: releases everything, then fires `close`. */
  #finish(reason: CloseReason, error?: unknown): void {
    if (this.#state === CLOSED) return;
    this.#state = CLOSED;
    this.#closeReason = reason;
    this.#stopKeepAlive();
    counters.queuedBytes -= this.#queuedBytes;
    counters.open--;
    counters.closes[reason]++;
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#block = undefined;
    this.#blockUsed = 0;
    this.#request = undefined;
    const cleanups = this.#cleanups;
    if (cleanups !== undefined) {
      this.#cleanups = undefined;
      for (const cleanup of cleanups) cleanup();
    }
    const groups = this.#groups;
    if (groups !== undefined) {
      this.#groups = undefined;
      for (let i = 1; i < groups.length; i += 2) (groups[i] as Membership).streamEnded();
    }
    this.#releaseReady();
    this.#abort?.abort(closeError(reason));
    if (this.#hears("close")) {
      super.dispatchEvent(new StreamCloseEvent("close", { reason, error }));
    }
    this.#resolveClosed?.();
  }

  static {
    isOpen = (target) => target.#state === OPEN;
    discardTarget = (target) => target.#leave("server");
    lastEventIdRejected = (target) => target.#lastEventIdRejected;
    isWaiting = (target) => target.#resolveReady !== undefined;
    sendRetry = (target, retry) =>
      target.#state === OPEN && target.#push(encodeFrame(formatRetry(retry)));
    endTarget = (target, reason, error) => {
      if (reason === "server") return target.close();
      if (reason === "client") target.#leave();
      else target.#fail(reason, error);
      return target.#closedPromise();
    };
  }

  /** Records that the target joined `group`, with its `entry` there; `false` if it had already. */
  #join(group: object, entry: Membership): boolean {
    const groups = this.#groups;
    if (groups === undefined) {
      this.#groups = [group, entry];
      return true;
    }
    if (this.#groupAt(group) !== -1) return false;
    groups.push(group, entry);
    return true;
  }

  /** The target's entry in `group`, or `undefined` if it is not a member. */
  #entryIn(group: object): Membership | undefined {
    const at = this.#groupAt(group);
    return at === -1 ? undefined : (this.#groups![at + 1] as Membership);
  }

  /** Where `group` is in `#groups`, or -1. */
  #groupAt(group: object): number {
    const groups = this.#groups;
    if (groups !== undefined) {
      for (let i = 0; i < groups.length; i += 2) if (groups[i] === group) return i;
    }
    return -1;
  }

  /** Forgets `group`. */
  #part(group: object): void {
    const at = this.#groupAt(group);
    if (at !== -1) this.#groups!.splice(at, 2);
  }

  /** Runs `cleanup` when the stream ends. */
  #onEnd(cleanup: () => void): void {
    if (this.#cleanups === undefined) this.#cleanups = [cleanup];
    else this.#cleanups.push(cleanup);
  }

  /**
   * Ties the stream to `request`'s signal, from the first keep-alive tick on (at once if there is
   * no keep-alive). Every runtime we test but workerd cancels the body when the client leaves,
   * which ends the stream sooner, and reading `signal` is not free everywhere: @hono/node-server
   * builds a whole `Request` for it, which cost more than the rest of a connection. A stream that
   * lasts less than a tick never needs it; a later one still sees a signal aborted meanwhile. A
   * `close()` that must wait for the runtime to take what is queued binds it at once.
   */
  #watchRequest(request: Request): void {
    if (this.#pulse === undefined) this.#bindRequest(signalOf(request));
    else this.#request = request;
  }

  /** The first keep-alive tick: bind the request's signal now; let an unread body go. */
  #settle(): void {
    this.#sink?.unread?.();
    const request = this.#request;
    if (request !== undefined) {
      this.#request = undefined;
      if (this.#state !== CLOSED) this.#bindRequest(signalOf(request));
    }
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
    this.#onEnd(() => signal.removeEventListener("abort", onAbort));
  }

  /** The client is gone (or takes no body): release the body quietly, so the runtime stops waiting on it. */
  #leave(reason: CloseReason = "client"): void {
    if (this.#state === CLOSED) return;
    this.#sink?.leave();
    this.#finish(reason);
  }
}

/** A request's signal; `undefined` if it has none, or reading it fails. */
function signalOf(request: Request): AbortSignal | undefined {
  try {
    return request.signal ?? undefined;
  } catch {
    return undefined;
  }
}

/** The reason a target's `signal` carries once its stream has ended. */
function closeError(reason: CloseReason): DOMException {
  return new DOMException(`Event stream closed: ${reason}`, "AbortError");
}

/** The body's queuing strategy: see {@linkcode BodySource}. */
const BODY_STRATEGY = { highWaterMark: 0 };

function ignore(): void {}

/**
 * Ends the targets of response bodies that were garbage-collected before anyone read them: a
 * handler that called `sendEvents()` and then answered with another response, or threw. Nothing
 * can ever read such a stream, and without this its target would stay open (keep-alives queued
 * for nobody, `close()` never resolving). Where the adapter knows which response was sent (the
 * Node adapter, `sendevents/hono`), it ends them at once instead.
 */
const UNSENT =
  typeof FinalizationRegistry === "function"
    ? new FinalizationRegistry<ServerSentEventTarget>((target) => {
        endTarget(
          target,
          "error",
          new Error("Event stream closed: its response was never sent"),
        ).catch(ignore);
      })
    : undefined;

/**
 * The response body's source and the target's sink at once, for runtimes that read the response
 * body themselves. High-water mark 0: the runtime's read is the only thing that pulls, so a pull
 * means "the runtime took everything so far", and all events queued since the last read leave as
 * one chunk. A class, not a handful of closures: it is made for every stream.
 *
 * A body still unread at the stream's first keep-alive tick is held weakly from then on and
 * watched by `UNSENT`, so that the target (which holds this source) does not keep an unsent body
 * alive. A body read sooner, as a sent one is, never pays for the watch.
 */
class BodySource implements TargetSink, UnderlyingDefaultSource<Uint8Array> {
  readonly #target: ServerSentEventTarget;
  /** Held while the body may still be sent, and from its first read on. */
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  /** Held weakly once the body was found unread. */
  #unread: WeakRef<ReadableStreamDefaultController<Uint8Array>> | undefined;
  #read = false;
  #pullPending = false;
  #scheduled = false;
  #task: (() => void) | undefined;

  constructor(target: ServerSentEventTarget) {
    this.#target = target;
  }

  start(controller: ReadableStreamDefaultController<Uint8Array>): void {
    this.#controller = controller;
  }

  pull(controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (!this.#read) {
      this.#read = true;
      if (this.#unread !== undefined) {
        // Read at last: the response is being sent after all.
        this.#controller = controller;
        this.#unread = undefined;
        UNSENT!.unregister(this);
      }
    }
    this.#pullPending = true;
    pullTarget(this.#target);
  }

  unread(): void {
    const controller = this.#controller;
    if (this.#read || controller === undefined || UNSENT === undefined) return;
    // The controller and its stream are only reachable from each other (and from whoever holds
    // the response): watch the controller, and hold it weakly.
    UNSENT.register(controller, this.#target, this);
    this.#unread = new WeakRef(controller);
    this.#controller = undefined;
  }

  cancel(): void {
    endTarget(this.#target, "client").catch(ignore);
  }

  wake(): void {
    // Coalesce everything dispatched in this turn into one chunk.
    if (this.#pullPending && !this.#scheduled) {
      this.#scheduled = true;
      this.#task ??= () => {
        this.#scheduled = false;
        if (this.#pullPending) pullTarget(this.#target);
      };
      queueMicrotask(this.#task);
    }
  }

  write(chunk: Uint8Array): void {
    this.#pullPending = false;
    this.#controller!.enqueue(chunk);
  }

  end(): void {
    this.#live()?.close();
  }

  abort(error: unknown): void {
    try {
      this.#live()?.error(error);
    } catch {
      // Already closed or cancelled by the runtime: nothing left to end.
    }
  }

  leave(): void {
    try {
      this.#live()?.close();
    } catch {
      // The runtime cancelled the body already.
    }
  }

  /** The controller, unless the body was collected unread. */
  #live(): ReadableStreamDefaultController<Uint8Array> | undefined {
    return this.#controller ?? this.#unread?.deref();
  }
}

/** A `ReadableStream` body fed by `target`. */
function readableFor(target: ServerSentEventTarget): ReadableStream<Uint8Array> {
  const source = new BodySource(target);
  const readable = new ReadableStream<Uint8Array>(source, BODY_STRATEGY);
  attachSink(target, source);
  return readable;
}

/** @internal Used by sendEvents and adapters; not exported from the package. */
export const internals = {
  create: (init: TargetInit) => createTarget(init),
  /** The response body for `target`, for runtimes that read a `ReadableStream`. */
  readable: (target: ServerSentEventTarget) => readableFor(target),
  /** Drains `target` into `sink` instead of a `ReadableStream` (an adapter's direct path). */
  attach: (target: ServerSentEventTarget, sink: TargetSink) => attachSink(target, sink),
  /** The sink can take more: hands it what is queued. */
  pull: (target: ServerSentEventTarget) => pullTarget(target),
  /**
   * Runs `cleanup` when the stream ends (at once if it has), before `close` fires: cheaper than a
   * `close` listener or the `signal`, for bookkeeping that needs neither.
   */
  onEnd: (target: ServerSentEventTarget, cleanup: () => void) => onTargetEnd(target, cleanup),
  /**
   * Records that `target` joined `group` (a `StreamGroup`, a `Channel`) with `entry` as its entry
   * there, told when the stream ends; `false` if it had joined already.
   */
  join: (target: ServerSentEventTarget, group: object, entry: Membership) =>
    joinGroup(target, group, entry),
  /** `target`'s entry in `group`, or `undefined` if it is not a member. */
  entryIn: (target: ServerSentEventTarget, group: object) => entryIn(target, group),
  /** Forgets that `target` joined `group`. */
  part: (target: ServerSentEventTarget, group: object) => partGroup(target, group),
  /** Resolves once the stream has ended, for whatever reason. */
  closed: (target: ServerSentEventTarget) => closedPromise(target),
  /**
   * `true` if the request carried a `Last-Event-ID` that cannot be an id (over 1024 characters,
   * CR, LF, NUL), which `lastEventId` reads as `""`: the client did resume, from nowhere we know.
   */
  lastEventIdRejected: (target: ServerSentEventTarget) => lastEventIdRejected(target),
  /** `true` while the stream takes events: not closing (`close()` waiting to drain) or closed. */
  open: (target: ServerSentEventTarget) => isOpen(target),
  /** `true` while `ready` is pending: the queue is over `highWaterMark`. */
  waiting: (target: ServerSentEventTarget) => isWaiting(target),
  /** Ends the stream with reason `"client"` once `request`'s signal aborts (see `#watchRequest`). */
  watchRequest: (target: ServerSentEventTarget, request: Request) => watchRequest(target, request),
  end: (target: ServerSentEventTarget, reason: CloseReason, error?: unknown) =>
    endTarget(target, reason, error),
  /**
   * Ends the stream now with reason `"server"`, dropping what is queued: for a response that
   * carries no body (the answer to a `HEAD`).
   */
  discard: (target: ServerSentEventTarget) => discardTarget(target),
  /** Queues a lone `retry:` field (no event); `false` if the stream is not open. */
  retry: (target: ServerSentEventTarget, retry: number) => sendRetry(target, retry),
};

/** An event for an error message: its class and type. */
function describeEvent(event: unknown): string {
  if (event instanceof Event) return `${event.constructor.name} ${JSON.stringify(event.type)}`;
  return describe(event);
}
