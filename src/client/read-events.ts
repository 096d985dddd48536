import { describe } from "../_internal/describe.ts";
import { createEventStreamParser, type EventStreamParser } from "./event-stream-parser.ts";

/**
 * One event read from a stream: the fields a client sees, with `data` already parsed when a
 * parser was given for its type.
 *
 * @typeParam Type The event type; `"message"` for an event without an `event:` field.
 * @typeParam Data The data: the text as sent, or what the type's parser made of it.
 */
export interface ReceivedEvent<Type extends string = string, Data = string> {
  /** The `event:` field, or `"message"`. */
  readonly type: Type;
  /** The `data:` lines joined with "\n", parsed when the type has a parser. */
  readonly data: Data;
  /** This event's own `id:` field; `undefined` if it had none. */
  readonly id: string | undefined;
  /**
   * The last event id as `EventSource` reports it (`MessageEvent.lastEventId`): this event's id,
   * or the last one before it, carried over.
   */
  readonly lastEventId: string;
  /** This event's own `retry:` field in milliseconds; `undefined` if it had none. */
  readonly retry: number | undefined;
}

/** The types of an event map whose data is a string: sent as is by the server, read as is. */
export type TextEventTypes<Events> = {
  [Type in keyof Events & string]: [Events[Type]] extends [string] ? Type : never;
}[keyof Events & string];

/** The types of an event map whose data is not a string: the server sends them as JSON. */
export type JsonEventTypes<Events> = Exclude<keyof Events & string, TextEventTypes<Events>>;

/**
 * How to read the data of each event type, checked against the server's event map: every type
 * whose data is not a string must be named, with `"json"` (`JSON.parse`) or a function of the
 * text; a type whose data is a string may have a function. Types not named arrive as text.
 */
export type EventParsers<Events> = {
  readonly [Type in JsonEventTypes<Events>]: "json" | ((data: string) => Events[Type]);
} & {
  readonly [Type in TextEventTypes<Events>]?: (data: string) => Events[Type];
};

/** The union of the events an event map allows, one member per type, `data` typed by it. */
export type EventOf<Events> = {
  [Type in keyof Events & string]: ReceivedEvent<Type, Events[Type]>;
}[keyof Events & string];

/** The default event map: any type, text data. */
export type TextEvents = Record<string, string>;

/** `parse` is required exactly when the event map has a type whose data is not a string. */
export type ParseOption<Events> = [JsonEventTypes<Events>] extends [never]
  ? { parse?: EventParsers<Events> }
  : { parse: EventParsers<Events> };

/** An options argument that may be left out exactly when none of its members is required. */
export type OptionsArgument<Events, Options> = [JsonEventTypes<Events>] extends [never]
  ? [options?: Options]
  : [options: Options];

/** Options for {@linkcode readEvents}. */
export type ReadEventsOptions<Events extends object = TextEvents> = ParseOption<Events> & {
  /** Stops reading when aborted: the body is cancelled and the loop ends. */
  signal?: AbortSignal;
};

/** A parse function per type, made from an `EventParsers` map. */
export type DataParsers = Map<string, (data: string) => unknown>;

function parseJson(data: string): unknown {
  return JSON.parse(data);
}

/**
 * Checks a `parse` option and turns it into functions.
 *
 * @throws {TypeError} If `parse` is not an object, or one of its values is neither `"json"` nor a
 *   function.
 */
export function toDataParsers(parse: unknown, action: string): DataParsers | undefined {
  if (parse === undefined) return undefined;
  if (typeof parse !== "object" || parse === null) {
    throw new TypeError(
      `${action}: "parse" must be an object of event types, received ${describe(parse)}`,
    );
  }
  const parsers: DataParsers = new Map();
  for (const [type, value] of Object.entries(parse)) {
    if (value === "json") parsers.set(type, parseJson);
    else if (typeof value === "function") parsers.set(type, value as (data: string) => unknown);
    else {
      throw new TypeError(
        `${action}: "parse.${type}" must be "json" or a function, received ${describe(value)}`,
      );
    }
  }
  return parsers.size === 0 ? undefined : parsers;
}

/**
 * Runs a type's parser on an event's data.
 *
 * @throws {TypeError} If the parser throws (JSON that is not JSON, say), with the cause.
 */
export function parseData(parsers: DataParsers | undefined, type: string, data: string): unknown {
  const parse = parsers?.get(type);
  if (parse === undefined) return data;
  try {
    return parse(data);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new TypeError(
      `Cannot read event "${type}": its data ${describe(data)} does not parse (${reason})`,
      { cause },
    );
  }
}

/** Checks an optional `signal` option. */
export function checkSignal(signal: unknown, action: string): AbortSignal | undefined {
  if (signal === undefined) return undefined;
  if (
    typeof signal !== "object" ||
    signal === null ||
    typeof (signal as AbortSignal).aborted !== "boolean" ||
    typeof (signal as AbortSignal).addEventListener !== "function"
  ) {
    throw new TypeError(`${action}: "signal" must be an AbortSignal, received ${describe(signal)}`);
  }
  return signal as AbortSignal;
}

/** The body of a `Response`, or the stream itself. */
function bodyOf(source: unknown): ReadableStream<Uint8Array> | null {
  const action = "Cannot read events";
  if (typeof source !== "object" || source === null) {
    throw new TypeError(
      `${action}: expected a Response or a ReadableStream, received ${describe(source)}`,
    );
  }
  if (typeof (source as ReadableStream).getReader === "function") {
    if ((source as ReadableStream).locked) {
      throw new TypeError(`${action}: the stream is locked (already being read)`);
    }
    return source as ReadableStream<Uint8Array>;
  }
  if ("body" in source && "bodyUsed" in source) {
    const response = source as Response;
    if (response.bodyUsed) throw new TypeError(`${action}: the response body was already read`);
    return response.body;
  }
  throw new TypeError(
    `${action}: expected a Response or a ReadableStream, received ${describe(source)}`,
  );
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** The iterator behind {@linkcode readEvents}: reads the body only as fast as it is iterated. */
class EventReader<Event> implements AsyncIterableIterator<Event, undefined, undefined> {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  readonly #decoder = new TextDecoder();
  readonly #parser: EventStreamParser;
  readonly #parsers: DataParsers | undefined;
  readonly #signal: AbortSignal | undefined;
  readonly #onAbort: (() => void) | undefined;
  #queue: Event[] = [];
  #head = 0;
  #done: boolean;

  constructor(
    body: ReadableStream<Uint8Array> | null,
    parsers: DataParsers | undefined,
    signal: AbortSignal | undefined,
  ) {
    this.#parsers = parsers;
    this.#parser = createEventStreamParser((type, data, id, retry) => {
      this.#queue.push({
        type,
        data: parseData(this.#parsers, type, data),
        id,
        lastEventId: this.#parser.lastEventId,
        retry,
      } as Event);
    });
    this.#reader = body?.getReader();
    this.#done = this.#reader === undefined;
    if (signal !== undefined && !this.#done) {
      this.#signal = signal;
      this.#onAbort = () => this.#stop();
      if (signal.aborted) this.#stop();
      else signal.addEventListener("abort", this.#onAbort, { once: true });
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<Event, undefined>> {
    // Most calls find an event waiting: answer those without an async function's machinery.
    if (this.#head < this.#queue.length) return Promise.resolve(this.#take());
    return this.#read();
  }

  #take(): IteratorResult<Event, undefined> {
    const event = this.#queue[this.#head]!;
    // Let go of the event: the queue is reused, and may hold a large payload.
    this.#queue[this.#head++] = undefined as Event;
    return { done: false, value: event };
  }

  /** Reads chunks until one completes an event, or the body ends. */
  async #read(): Promise<IteratorResult<Event, undefined>> {
    while (this.#head === this.#queue.length) {
      if (this.#done) return DONE;
      this.#queue.length = 0;
      this.#head = 0;
      let result: ReadableStreamReadResult<Uint8Array>;
      try {
        result = await this.#reader!.read();
      } catch (error) {
        // Our own cancel (return(), the signal) makes a pending read fail or end: just stop.
        if (this.#done) return DONE;
        this.#finish();
        throw error;
      }
      if (this.#done) return DONE;
      try {
        if (result.done) {
          this.#parser.feed(this.#decoder.decode());
          this.#parser.end();
          this.#finish();
        } else this.#parser.feed(this.#decoder.decode(result.value, { stream: true }));
      } catch (error) {
        this.#stop();
        throw error;
      }
    }
    return this.#take();
  }

  async return(): Promise<IteratorResult<Event, undefined>> {
    this.#stop();
    return DONE;
  }

  /** The body ended: release it. */
  #finish(): void {
    this.#done = true;
    if (this.#onAbort !== undefined) this.#signal!.removeEventListener("abort", this.#onAbort);
    this.#reader?.releaseLock();
  }

  /** Reading stops early: cancel the body, so the server learns the client left. */
  #stop(): void {
    if (this.#done) return;
    this.#done = true;
    this.#queue.length = 0;
    this.#head = 0;
    if (this.#onAbort !== undefined) this.#signal!.removeEventListener("abort", this.#onAbort);
    this.#reader!.cancel().then(undefined, () => {});
  }
}

/**
 * Reads the events of a `text/event-stream` body, one at a time, as an async iterator.
 *
 * Parsing follows the WHATWG standard to the letter: CR, LF and CRLF end lines, even when a chunk
 * ends between CR and LF; one leading BOM is dropped; an `id` with NUL is ignored; `retry` counts
 * only when it is ASCII digits; an event cut off by the end of the stream is dropped. The body is
 * read only as fast as the loop asks for events, and is cancelled when the loop ends early
 * (`break`, `return`, a throw) or `signal` aborts, so the server learns that the client left.
 *
 * With an event map, the `data` of each event is typed by its type: types whose data is not a
 * string must be given a parser (`"json"` or a function), which the compiler checks.
 *
 * @typeParam Events The server's event map (as given to `ServerSentEventTarget<Events>`).
 * @param source A `Response` (from `fetch`, or from a handler in a test) or its body.
 * @param options `parse` per event type; `signal` to stop reading.
 * @returns An async iterator of events; a `Response` without a body gives none.
 * @throws {TypeError} If `source` is neither a `Response` nor a `ReadableStream`, its body was
 *   read already, or an option is malformed. While iterating: the body's error, or a `TypeError`
 *   when a type's parser throws (the body is then cancelled).
 *
 * @example Read a stream of JSON events
 * ```ts
 * import { readEvents } from "sendevents/client";
 *
 * interface Prices {
 *   price: { symbol: string; value: number };
 * }
 * const response = await fetch("https://example.com/prices");
 * for await (const event of readEvents<Prices>(response, { parse: { price: "json" } })) {
 *   console.log(event.data.symbol, event.data.value);
 * }
 * ```
 */
export function readEvents<Events extends object = TextEvents>(
  source: Response | ReadableStream<Uint8Array>,
  ...[options]: OptionsArgument<Events, ReadEventsOptions<Events>>
): AsyncIterableIterator<EventOf<Events>, undefined, undefined> {
  const action = "Cannot read events";
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(`${action}: options must be an object, received ${describe(options)}`);
  }
  const parsers = toDataParsers(options?.parse, action);
  const signal = checkSignal(options?.signal, action);
  return new EventReader<EventOf<Events>>(bodyOf(source), parsers, signal);
}
