import { CONSTRUCT, events, streams } from "./_internal/access.ts";
import { checkInteger, MAX_DELAY } from "./_internal/check-integer.ts";
import { describe } from "./_internal/describe.ts";
import { EventStream } from "./_internal/event-stream.ts";
import { formatComment, formatEvent, serializeData } from "./_internal/format.ts";
import { pipeFrom } from "./_internal/pipe.ts";
import type { PipeFromOptions } from "./pipe-from.ts";
import { ServerSentEvent, type ServerSentEventInit } from "./server-sent-event.ts";
import type { StreamCloseEvent } from "./stream-close-event.ts";
import type { AddListenerOptions, EventListenerInput } from "./web-types.ts";

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

/** A listener of the target's own `close` event. */
export type StreamCloseListener =
  | ((event: StreamCloseEvent) => void)
  | { handleEvent(event: StreamCloseEvent): void };

/** A listener of events of one type, before they are sent. */
export type ServerSentEventListener<Type extends string, Data> =
  | ((event: ServerSentEvent<Type, Data>) => void)
  | { handleEvent(event: ServerSentEvent<Type, Data>): void };

/**
 * The data `dispatchMessage` takes on a target typed by `Events`: `Events["message"]` when the map
 * has a `message` type, else anything.
 */
export type MessageData<Events> = "message" extends keyof Events ? Events["message"] : unknown;

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
  /** The lifecycle, the queue and the sink: see `src/_internal/event-stream.ts`. */
  readonly #stream: EventStream;

  static {
    streams.of = (target) => target.#stream;
  }

  private constructor(key: typeof CONSTRUCT, init: ConstructorParameters<typeof EventStream>[1]) {
    if (key !== CONSTRUCT) {
      throw new TypeError(
        "Cannot construct ServerSentEventTarget: use sendEvents(request) instead",
      );
    }
    super();
    this.#stream = new EventStream(this, init);
  }

  /** `true` once the stream has ended; `dispatch*` then send nothing. */
  get closed(): boolean {
    return this.#stream.closed;
  }

  /** Aborted when the stream ends: pass it to `fetch`, timers or sources feeding this target. */
  get signal(): AbortSignal {
    return this.#stream.signal;
  }

  /**
   * The request's `Last-Event-ID` header: the id of the last event the client saw before it
   * reconnected, or `""`. Values over 1024 characters or with CR, LF or NUL read as `""`.
   */
  get lastEventId(): string {
    return this.#stream.lastEventId;
  }

  /** Bytes dispatched but not yet taken by the runtime. */
  get bufferedAmount(): number {
    return this.#stream.queuedBytes;
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
    return this.#stream.ready;
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
    const event = events.own(dispatched);
    if (event === undefined) {
      throw new TypeError(
        `Cannot dispatch event: expected a ServerSentEvent, received ${describeEvent(dispatched)}; send data with new ServerSentEvent(type, data)`,
      );
    }
    const stream = this.#stream;
    if (!stream.open) return stream.refuse();
    // The validated type, which the listeners are raised with too: `event.type` can be shadowed.
    const type = events.type(event);
    if (type !== "close" && stream.hears(type)) {
      // Each target's listeners get a clean event: one target's preventDefault() or
      // stopImmediatePropagation() must not silence the next (a channel sends one event to all).
      if (!super.dispatchEvent(events.forListeners(event))) return false;
      if (!stream.open) return false;
    }
    if (!events.encoded(event) && stream.cannotFit(events.fields(event).data))
      return stream.refuse();
    return stream.push(events.frame(event));
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
    const stream = this.#stream;
    // Most dispatches: a string, no options, nobody listening. One call does it all.
    if (typeof data === "string" && init === undefined && !stream.hears("message")) {
      return stream.sendData(data);
    }
    if (stream.hears("message") || init?.cancelable) {
      const event = new ServerSentEvent("message", data, init);
      if (!stream.open) return stream.refuse();
      if (!super.dispatchEvent(event)) return false;
      if (!stream.open) return stream.refuse();
      return stream.push(events.frame(event));
    }
    // Nobody listens: skip building an Event, but validate exactly as the constructor does.
    if (init !== undefined) {
      const event = new ServerSentEvent("message", data, init);
      if (!stream.open) return stream.refuse();
      return stream.push(events.frame(event));
    }
    const text = serializeData(data, 'Cannot create event "message"');
    if (!stream.open) return stream.refuse();
    if (stream.cannotFit(text)) return stream.refuse();
    return stream.pushText(formatEvent({ type: "message", data: text }));
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
    const stream = this.#stream;
    if (!stream.open) return stream.refuse();
    if (stream.cannotFit(text)) return stream.refuse();
    return stream.pushText(formatComment(text));
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
    return this.#stream.close(timeout);
  }

  /**
   * Ends the stream at once, as a failure: what is queued is dropped, the runtime aborts the
   * response (the client sees a broken stream, not an end, and reconnects with its
   * `Last-Event-ID`), and `close` fires with reason `"error"`, carrying `reason`. For a source
   * that failed, a deadline that passed, a client that must not get a clean end. Does nothing once
   * the stream has ended; cuts short a `close()` still waiting to hand over what is queued.
   *
   * @param reason What went wrong: the `close` event's `error`. By default an `Error` that says
   *   the stream was aborted.
   *
   * @example Abort a stream whose upstream failed
   * ```ts
   * import { sendEvents } from "sendevents";
   *
   * const { target } = sendEvents(new Request("http://localhost/"));
   * target.addEventListener("close", (event) => console.log(event.reason, event.error));
   * target.abort(new Error("upstream failed")); // logs "error" and the Error
   * ```
   */
  abort(reason?: unknown): void {
    this.#stream.fail(
      "error",
      reason === undefined ? new Error("Event stream aborted by the server") : reason,
    );
  }

  /** Listens for `close`: raised exactly once, however the stream ended. */
  override addEventListener(
    type: "close",
    listener: StreamCloseListener | null,
    options?: AddListenerOptions,
  ): void;
  /** Listens for the events of one type of the event map, as they are dispatched (before they are sent). */
  override addEventListener<Type extends keyof Events & string>(
    type: Type,
    listener: ServerSentEventListener<Type, Events[Type]> | null,
    options?: AddListenerOptions,
  ): void;
  /** Listens for events of any type. */
  override addEventListener(
    type: string,
    listener: EventListenerInput,
    options?: AddListenerOptions,
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
    options?: AddListenerOptions,
  ): void {
    // Remember which types have ever had a listener: others skip the local dispatch entirely.
    if (listener) this.#stream.listen(String(type));
    super.addEventListener(type, listener, options);
  }
}

/** An event for an error message: its class and type. */
function describeEvent(event: unknown): string {
  if (event instanceof Event) return `${event.constructor.name} ${JSON.stringify(event.type)}`;
  return describe(event);
}
