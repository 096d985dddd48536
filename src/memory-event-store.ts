import { events } from "./_internal/access.ts";
import { checkInteger } from "./_internal/check-integer.ts";
import { describe } from "./_internal/describe.ts";
import type {
  EventRecord,
  EventStore,
  EventStoreReadOptions,
  EventStoreReadResult,
} from "./event-store.ts";
import { ServerSentEvent } from "./server-sent-event.ts";

/** The default `maxEvents` of a {@linkcode MemoryEventStore}. */
export const DEFAULT_MAX_EVENTS = 1000;
/** The default `maxBytes` of a {@linkcode MemoryEventStore}: 1 MiB of encoded events. */
export const DEFAULT_MAX_BYTES = 1024 * 1024;
/** The default `maxAge` of a {@linkcode MemoryEventStore}: 5 minutes. */
export const DEFAULT_MAX_AGE = 5 * 60_000;

const ACTION = "Cannot create event store";
const EPOCH = /^[A-Za-z0-9_-]{1,64}$/;
const SEQUENCE = /^(?:0|[1-9][0-9]{0,15})$/;

/** Options for {@linkcode MemoryEventStore}. */
export interface MemoryEventStoreOptions {
  /**
   * The most events kept; the oldest go first. Each held event costs, beside its encoded bytes,
   * about half a kilobyte of objects (the event, its bytes, its slot), so memory is bounded by
   * `maxBytes` plus `maxEvents` times that: about 1.5 MiB with the defaults. Raise it only as far
   * as you would hold that many events.
   * @default 1000
   */
  maxEvents?: number;
  /**
   * The most bytes kept, counted as the events' encoded size on the wire. An event larger than
   * this on its own is sent to live clients but never kept.
   * @default 1048576
   */
  maxBytes?: number;
  /**
   * Milliseconds an event is kept; `Infinity` keeps events until count or bytes push them out.
   * @default 300000
   */
  maxAge?: number;
  /**
   * The prefix of every id, which tells this store's ids from any other's. Random by default, so
   * that a restarted process never takes an old id for one of its own. Letters, digits, `_` and
   * `-`, at most 64.
   */
  epoch?: string;
}

interface Entry {
  readonly event: ServerSentEvent;
  readonly bytes: number;
  readonly time: number;
}

function randomEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  let epoch = "";
  for (const byte of bytes) epoch += byte.toString(36).padStart(2, "0");
  return epoch;
}

/**
 * The in-memory {@linkcode EventStore}: a ring of the most recent events of one channel, bounded
 * by count, bytes and age, whichever is reached first.
 *
 * Ids are `<epoch>:<sequence>`, the sequence counting from 1 (`<epoch>:0` is the position before
 * the first event). Reading after an id of another
 * epoch, after a sequence this store has not reached yet, or after one whose successors were
 * already dropped, returns a `stale` result rather than a partial history.
 *
 * It lives in one process: every server instance has its own history and its own epoch, so a
 * client that reconnects to another instance is told it is `stale`. Several instances share a
 * channel through `RedisEventStore` (`sendevents/redis`).
 *
 * Age is enforced lazily, on `append`, `read` and `trim`: the store sets no timer, so it never
 * keeps a process alive.
 *
 * @example Keep at most 500 events and read back after an id
 * ```ts
 * import { MemoryEventStore } from "sendevents";
 *
 * const store = new MemoryEventStore({ maxEvents: 500 });
 * const first = await store.append({ type: "message", data: "one" });
 * await store.append({ type: "message", data: "two" });
 * const { events } = await store.read(first.id!);
 * console.log(events.map((event) => event.data)); // ["two"]
 * ```
 */
export class MemoryEventStore implements EventStore {
  readonly #maxEvents: number;
  readonly #maxBytes: number;
  readonly #maxAge: number;
  readonly #epoch: string;
  readonly #prefix: string;
  /**
   * Held events, oldest first, from index `#head` on; sequence `#first + i - #head`. Slots before
   * `#head` are cleared when their event is dropped, so a dropped event is released at once and
   * the bound on bytes is a bound on memory, not only on a counter.
   */
  #entries: (Entry | undefined)[] = [];
  #head = 0;
  /** Sequence of the oldest held event (meaningful while one is held). */
  #first = 1;
  /** Sequence of the newest event ever appended; 0 before the first. */
  #last = 0;
  #bytes = 0;

  /**
   * Creates an empty store with a fresh random epoch (unless `options.epoch` gives one).
   *
   * @param options `maxEvents`, `maxBytes`, `maxAge` and `epoch`.
   * @throws {RangeError} If `maxEvents` or `maxBytes` is not a positive integer, or `maxAge` is
   *   not a positive number.
   * @throws {TypeError} If `epoch` is not 1 to 64 letters, digits, `_` or `-`.
   */
  constructor(options: MemoryEventStoreOptions = {}) {
    this.#maxEvents = checkInteger(ACTION, "maxEvents", options.maxEvents ?? DEFAULT_MAX_EVENTS, 1);
    this.#maxBytes = checkInteger(ACTION, "maxBytes", options.maxBytes ?? DEFAULT_MAX_BYTES, 1);
    const maxAge = options.maxAge ?? DEFAULT_MAX_AGE;
    if (typeof maxAge !== "number" || Number.isNaN(maxAge) || maxAge <= 0) {
      throw new RangeError(
        `Cannot create event store: "maxAge" must be a positive number of milliseconds, received ${describe(maxAge)}`,
      );
    }
    this.#maxAge = maxAge;
    const epoch = options.epoch ?? randomEpoch();
    if (typeof epoch !== "string" || !EPOCH.test(epoch)) {
      throw new TypeError(
        `Cannot create event store: "epoch" must be 1 to 64 letters, digits, "_" or "-", received ${describe(epoch)}`,
      );
    }
    this.#epoch = epoch;
    this.#prefix = `${epoch}:`;
  }

  /** The prefix that marks this store's ids. */
  get epoch(): string {
    return this.#epoch;
  }

  /** How many events are held now. */
  get length(): number {
    return this.#entries.length - this.#head;
  }

  /** The encoded size in bytes of the events held now. */
  get byteLength(): number {
    return this.#bytes;
  }

  /**
   * The newest id issued; before the first event, `<epoch>:0`, which reads as "before the first
   * event" (resuming after it gets every event of this epoch).
   */
  get lastId(): string {
    return this.#prefix + this.#last;
  }

  /**
   * Stores an event under the next id, then drops the oldest events until the bounds hold again.
   * The event is encoded here, once: its size counts against `maxBytes`, and every client is later
   * sent these same bytes.
   *
   * @param record The event's type, wire data and retry.
   * @returns The stored event, its `id` set.
   * @throws {TypeError} If the type is empty or has CR or LF.
   */
  append(record: EventRecord): Promise<ServerSentEvent> {
    // Ids are assigned synchronously, so they follow call order whatever the caller awaits.
    const sequence = this.#last + 1;
    const event = new ServerSentEvent(record.type, record.data, {
      id: this.#prefix + sequence,
      ...(record.retry === undefined ? {} : { retry: record.retry }),
    });
    const bytes = events.frame(event).byteLength;
    this.#last = sequence;
    const now = Date.now();
    this.#expire(now);
    if (bytes > this.#maxBytes) {
      // Too large to keep: drop everything before it too, so resuming across it reads as stale.
      this.#drop(this.length);
      this.#first = sequence + 1;
    } else {
      if (this.length === 0) this.#first = sequence;
      this.#entries.push({ event, bytes, time: now });
      this.#bytes += bytes;
      let excess = 0;
      let held = this.#bytes;
      while (this.length - excess > this.#maxEvents || held > this.#maxBytes) {
        held -= this.#entries[this.#head + excess]!.bytes;
        excess++;
      }
      this.#drop(excess);
    }
    return Promise.resolve(event);
  }

  /**
   * Reads the events after `afterId`, oldest first; `""` reads from the oldest held.
   *
   * @param afterId An id this store issued, or `""`.
   * @param options `limit`: at most this many events.
   * @returns The events, or `stale: "unknown"` for an id of another epoch or one not issued yet,
   *   or `stale: "expired"` when events after it were already dropped.
   * @throws {RangeError} If `limit` is not a positive integer.
   */
  read(afterId: string, options: EventStoreReadOptions = {}): Promise<EventStoreReadResult> {
    const limit =
      options.limit === undefined
        ? Number.POSITIVE_INFINITY
        : checkInteger("Cannot read events", "limit", options.limit, 1);
    this.#expire(Date.now());
    const lastId = this.lastId;
    let after: number;
    if (afterId === "") {
      after = this.#first - 1;
    } else {
      const sequence = this.#parse(afterId);
      if (sequence === undefined || sequence > this.#last) {
        return Promise.resolve({ events: [], stale: "unknown", lastId });
      }
      if (sequence < this.#first - 1) {
        return Promise.resolve({ events: [], stale: "expired", lastId });
      }
      after = sequence;
    }
    const start = this.#head + (after + 1 - this.#first);
    const end = Math.min(this.#entries.length, start + limit);
    const events: ServerSentEvent[] = [];
    for (let i = start; i < end; i++) events.push(this.#entries[i]!.event);
    return Promise.resolve({ events, lastId });
  }

  /**
   * Drops the events older than `maxAge`. Count and bytes are enforced on every `append`.
   *
   * @returns How many events were dropped.
   */
  trim(): Promise<number> {
    return Promise.resolve(this.#expire(Date.now()));
  }

  /**
   * Orders two ids of this store by sequence.
   *
   * @throws {TypeError} If either id is not one of this store's.
   */
  compare(a: string, b: string): number {
    const x = this.#parse(a);
    const y = this.#parse(b);
    if (x === undefined || y === undefined) {
      throw new TypeError(
        `Cannot compare event ids: ${describe(x === undefined ? a : b)} is not an id of this store`,
      );
    }
    return x - y;
  }

  /** The sequence of one of our ids, or `undefined` for anything else. */
  #parse(id: string): number | undefined {
    if (typeof id !== "string" || !id.startsWith(this.#prefix)) return undefined;
    const digits = id.slice(this.#prefix.length);
    if (!SEQUENCE.test(digits)) return undefined;
    const sequence = Number(digits);
    return Number.isSafeInteger(sequence) ? sequence : undefined;
  }

  #expire(now: number): number {
    if (this.#maxAge === Number.POSITIVE_INFINITY) return 0;
    const oldest = now - this.#maxAge;
    let count = 0;
    while (this.#head + count < this.#entries.length) {
      if (this.#entries[this.#head + count]!.time > oldest) break;
      count++;
    }
    this.#drop(count);
    return count;
  }

  /** Drops the `count` oldest held events, releasing them. */
  #drop(count: number): void {
    if (count === 0) return;
    const entries = this.#entries;
    for (let i = this.#head; i < this.#head + count; i++) {
      this.#bytes -= entries[i]!.bytes;
      entries[i] = undefined;
    }
    this.#head += count;
    this.#first += count;
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#entries.length) {
      // Compact now and then, so dropping stays amortised O(1) and memory follows what is held.
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
