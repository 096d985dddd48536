import {
  type EventRecord,
  type EventStore,
  type EventStoreReadOptions,
  type EventStoreReadResult,
  ServerSentEvent,
} from "../../src/index.ts";
import type { SqlStorageLike, SqlValue } from "./types.ts";

/** The default {@linkcode SqlEventStoreOptions.maxEvents}. */
const DEFAULT_MAX_EVENTS = 1000;
/** The default {@linkcode SqlEventStoreOptions.maxAge}: 5 minutes. */
const DEFAULT_MAX_AGE = 5 * 60_000;
/** The default {@linkcode SqlEventStoreOptions.maxEventBytes}: 64 KiB. */
const DEFAULT_MAX_EVENT_BYTES = 64 * 1024;
/**
 * The most {@linkcode SqlEventStoreOptions.maxEventBytes} may be: a Durable Object's SQLite
 * refuses a string or row over 2 MB, and an event is stored as one row.
 */
const MAX_EVENT_BYTES = 2_000_000 - 1024;
const TABLE = /^[A-Za-z_][A-Za-z0-9_]{0,39}$/;
const ID = /^([A-Za-z0-9_-]{1,64}):(0|[1-9][0-9]{0,15})$/;
const ACTION = "Cannot create SQL event store";

/** Options for {@linkcode SqlEventStore}. */
export interface SqlEventStoreOptions {
  /**
   * The most events kept; the oldest go first.
   * @default 1000
   */
  maxEvents?: number;
  /**
   * Milliseconds an event is kept; `Infinity` keeps events until `maxEvents` pushes them out.
   * Enforced lazily, on `append`, `read` and `trim`: the store sets no alarm, so it never wakes
   * the object.
   * @default 300000
   */
  maxAge?: number;
  /**
   * The largest event, in UTF-8 bytes of its type and data, that `append` takes; a larger one is
   * refused with a `RangeError` (SQLite in a Durable Object refuses rows over 2 MB).
   * @default 65536
   */
  maxEventBytes?: number;
  /**
   * The prefix of the store's two tables (`<table>_meta`, `<table>_events`), so that several
   * stores, or the application's own tables, can share one object's database.
   * @default "sendevents"
   */
  table?: string;
  /**
   * Called when the store finds its tables gone (the object's storage was deleted under it, by
   * `ctx.storage.deleteAll()`), after it has made them again with a new epoch: every id issued
   * before is now `stale: "unknown"`. `lastId` is the new epoch's "before the first event" id.
   * Also called by {@linkcode SqlEventStore.reset}. A {@linkcode ChannelObject} uses it to tell
   * its live members.
   */
  onReset?: (lastId: string) => void;
}

interface Meta {
  epoch: string;
  /** The newest sequence issued; 0 before the first. */
  last: number;
  /** The newest sequence dropped (by count or age): reading after an older one is `expired`. */
  dropped: number;
  /** When the oldest held event was stored, or `undefined` when none is held. */
  oldest: number | undefined;
}

function describeValue(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  }
  if (typeof value === "number" || typeof value === "boolean" || value == null) {
    return String(value);
  }
  return typeof value === "function" ? "a function" : Object.prototype.toString.call(value);
}

function positiveInteger(name: string, value: unknown, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 1 || value > max) {
    const range =
      max === Number.MAX_SAFE_INTEGER ? "a positive integer" : `an integer from 1 to ${max}`;
    throw new RangeError(`${ACTION}: "${name}" must be ${range}, received ${describeValue(value)}`);
  }
  return value;
}

function randomEpoch(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  let epoch = "";
  for (const byte of bytes) epoch += byte.toString(36).padStart(2, "0");
  return epoch;
}

/** The UTF-8 length of `text`, counted only as far as needed to tell it exceeds `max`. */
function exceeds(text: string, max: number): boolean {
  // Each UTF-16 unit is at most 3 UTF-8 bytes; each is at least 1.
  if (text.length * 3 <= max) return false;
  if (text.length > max) return true;
  return new TextEncoder().encode(text).byteLength > max;
}

/**
 * An {@linkcode EventStore} in a Durable Object's SQLite storage (`ctx.storage.sql`): the history
 * of one channel, bounded by count and age, that survives the object's eviction and restart.
 *
 * - Ids are `<epoch>:<sequence>`, the sequence counting from 1 (`<epoch>:0` is the position before
 *   the first event). The epoch is stored beside the events, so an object that is evicted and
 *   started again keeps it, and its clients resume; storage that was deleted (`deleteAll()`, or
 *   {@linkcode SqlEventStore.reset}) gets a new epoch, and every earlier id reads as
 *   `stale: "unknown"`, as does an id of another channel or a forged one. An id whose successors
 *   were dropped reads as `stale: "expired"`.
 * - An object runs one request at a time and `sql.exec` is synchronous, so ids follow call order
 *   and no `subscribe` is needed: the object's one `Channel` is the only writer.
 * - Each `append` writes 2 rows (the event and the store's counter row) and, once the store is
 *   full, deletes one: Durable Object storage bills rows written.
 *
 * `ChannelObject` (`sendevents/cloudflare`) makes one for its channel; make one yourself to hold a
 * `Channel` in an object of your own.
 *
 * @example A channel in a Durable Object of your own
 * ```ts
 * import { DurableObject } from "cloudflare:workers";
 * import { Channel, sendEvents } from "sendevents";
 * import { SqlEventStore } from "sendevents/cloudflare";
 *
 * export class Feed extends DurableObject {
 *   readonly channel = new Channel("feed", {
 *     store: new SqlEventStore(this.ctx.storage.sql, { maxEvents: 500, maxAge: 60_000 }),
 *   });
 *
 *   override async fetch(request: Request): Promise<Response> {
 *     const { response, target } = sendEvents(request);
 *     void this.channel.register(target); // replays after Last-Event-ID, then live
 *     return response;
 *   }
 *
 *   async publish(text: string): Promise<string> {
 *     return (await this.channel.broadcast(text)).id!;
 *   }
 * }
 * ```
 */
export class SqlEventStore implements EventStore {
  readonly #sql: SqlStorageLike;
  readonly #maxEvents: number;
  readonly #maxAge: number;
  readonly #maxEventBytes: number;
  readonly #meta: string;
  readonly #events: string;
  readonly #onReset: ((lastId: string) => void) | undefined;
  #state: Meta;

  /**
   * Opens the store's tables in `sql`, making them (and a new epoch) if they are not there.
   *
   * @param sql The object's `ctx.storage.sql`.
   * @param options `maxEvents`, `maxAge`, `maxEventBytes`, `table`, `onReset`.
   * @throws {TypeError} If `sql` is not a SQL storage, `table` is not an SQL name of 1 to 40
   *   letters, digits and `_`, or `onReset` is not a function.
   * @throws {RangeError} If `maxEvents` or `maxEventBytes` is not a positive integer (at most
   *   1,998,976 for `maxEventBytes`), or `maxAge` is not a positive number.
   */
  constructor(sql: SqlStorageLike, options: SqlEventStoreOptions = {}) {
    if (typeof (sql as Partial<SqlStorageLike> | null)?.exec !== "function") {
      throw new TypeError(
        `${ACTION}: expected a Durable Object's ctx.storage.sql, received ${describeValue(sql)}`,
      );
    }
    this.#maxEvents = positiveInteger("maxEvents", options.maxEvents ?? DEFAULT_MAX_EVENTS);
    this.#maxEventBytes = positiveInteger(
      "maxEventBytes",
      options.maxEventBytes ?? DEFAULT_MAX_EVENT_BYTES,
      MAX_EVENT_BYTES,
    );
    const maxAge = options.maxAge ?? DEFAULT_MAX_AGE;
    if (typeof maxAge !== "number" || Number.isNaN(maxAge) || maxAge <= 0) {
      throw new RangeError(
        `${ACTION}: "maxAge" must be a positive number of milliseconds, received ${describeValue(maxAge)}`,
      );
    }
    this.#maxAge = maxAge;
    const table = options.table ?? "sendevents";
    if (typeof table !== "string" || !TABLE.test(table)) {
      throw new TypeError(
        `${ACTION}: "table" must be 1 to 40 letters, digits or "_", not starting with a digit, received ${describeValue(table)}`,
      );
    }
    if (options.onReset !== undefined && typeof options.onReset !== "function") {
      throw new TypeError(
        `${ACTION}: "onReset" must be a function, received ${describeValue(options.onReset)}`,
      );
    }
    this.#onReset = options.onReset;
    this.#sql = sql;
    this.#meta = `${table}_meta`;
    this.#events = `${table}_events`;
    this.#state = this.#open();
  }

  /** The prefix of this store's ids; it changes only when the storage is deleted. */
  get epoch(): string {
    return this.#state.epoch;
  }

  /** The newest id issued; before the first event of the epoch, `<epoch>:0`. */
  get lastId(): string {
    return `${this.#state.epoch}:${this.#state.last}`;
  }

  /** How many events are held now (after dropping those past `maxAge`). */
  get length(): number {
    this.#live(() => this.#expire(Date.now()));
    const state = this.#state;
    return state.oldest === undefined ? 0 : state.last - state.dropped;
  }

  /**
   * Stores an event under the next id and drops the oldest past `maxEvents` or `maxAge`.
   *
   * @returns The stored event, its `id` set.
   * @throws {RangeError} If the event's type and data are over `maxEventBytes` in UTF-8.
   */
  append(record: EventRecord): Promise<ServerSentEvent> {
    const { type, data, retry } = record;
    if (exceeds(data, this.#maxEventBytes - type.length * 3)) {
      return Promise.reject(
        new RangeError(
          `Cannot store event ${describeValue(type)}: its data is over the store's maxEventBytes (${this.#maxEventBytes} bytes), received ${data.length} characters`,
        ),
      );
    }
    const now = Date.now();
    const state = this.#live(() => {
      const state = this.#state;
      const sequence = state.last + 1;
      this.#sql.exec(
        `INSERT INTO ${this.#events} (seq, type, data, retry, time) VALUES (?, ?, ?, ?, ?)`,
        sequence,
        type,
        data,
        retry ?? null,
        now,
      );
      return state;
    });
    const sequence = state.last + 1;
    state.last = sequence;
    state.oldest ??= now;
    this.#expire(now);
    const cut = sequence - this.#maxEvents;
    if (cut > state.dropped) {
      // `oldest` may now be older than the oldest held event: that only makes the next age
      // check look (one row) and correct it, which is cheaper than reading it here every time.
      this.#sql.exec(`DELETE FROM ${this.#events} WHERE seq <= ?`, cut);
      state.dropped = cut;
    }
    this.#sql.exec(
      `UPDATE ${this.#meta} SET last = ?, dropped = ? WHERE id = 1`,
      state.last,
      state.dropped,
    );
    return Promise.resolve(
      new ServerSentEvent(type, data, {
        id: `${state.epoch}:${sequence}`,
        ...(retry === undefined ? {} : { retry }),
      }),
    );
  }

  /**
   * Reads the events after `afterId`, oldest first; `""` reads from the oldest held.
   *
   * @returns The events, or `stale: "unknown"` for an id of another epoch (deleted storage,
   *   another channel, a forged id) or ahead of the newest, or `stale: "expired"` when events
   *   after it were dropped.
   * @throws {RangeError} If `limit` is not a positive integer.
   */
  read(afterId: string, options: EventStoreReadOptions = {}): Promise<EventStoreReadResult> {
    const limit = options.limit === undefined ? -1 : positiveInteger("limit", options.limit);
    return this.#live(() => this.#read(afterId, limit));
  }

  #read(afterId: string, limit: number): Promise<EventStoreReadResult> {
    this.#expire(Date.now());
    const state = this.#state;
    const lastId = `${state.epoch}:${state.last}`;
    let after: number;
    if (afterId === "") {
      after = state.dropped;
    } else {
      const sequence = this.#parse(afterId);
      if (sequence === undefined || sequence > state.last) {
        return Promise.resolve({ events: [], stale: "unknown", lastId });
      }
      if (sequence < state.dropped) {
        return Promise.resolve({ events: [], stale: "expired", lastId });
      }
      after = sequence;
    }
    const events: ServerSentEvent[] = [];
    if (after < state.last) {
      const rows = this.#sql
        .exec(
          `SELECT seq, type, data, retry FROM ${this.#events} WHERE seq > ? ORDER BY seq LIMIT ?`,
          after,
          limit,
        )
        .toArray();
      for (const row of rows) {
        const retry = row.retry;
        events.push(
          new ServerSentEvent(String(row.type), String(row.data), {
            id: `${state.epoch}:${Number(row.seq)}`,
            ...(typeof retry === "number" ? { retry } : {}),
          }),
        );
      }
    }
    return Promise.resolve({ events, lastId });
  }

  /**
   * Drops the events older than `maxAge` (`maxEvents` is enforced on every `append`).
   *
   * @returns How many events were dropped.
   */
  trim(): Promise<number> {
    return Promise.resolve(this.#live(() => this.#expire(Date.now())));
  }

  /**
   * Orders two ids of this store's current epoch by sequence.
   *
   * @throws {TypeError} If either id is not one of this epoch's.
   */
  compare(a: string, b: string): number {
    const x = this.#parse(a);
    const y = this.#parse(b);
    if (x === undefined || y === undefined) {
      throw new TypeError(
        `Cannot compare event ids: ${describeValue(x === undefined ? a : b)} is not an id of this store`,
      );
    }
    return x - y;
  }

  /**
   * The id to read after for the newest `count` events held (fewer if fewer are held): what a
   * channel's `history` costs with this store, without reading the older ones.
   *
   * @throws {RangeError} If `count` is not a non-negative integer.
   */
  tailId(count: number): string {
    if (typeof count !== "number" || !Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(
        `Cannot read the tail of the SQL event store: "count" must be a non-negative integer, received ${describeValue(count)}`,
      );
    }
    this.#live(() => this.#expire(Date.now()));
    const state = this.#state;
    return `${state.epoch}:${Math.max(state.dropped, state.last - count)}`;
  }

  /**
   * Drops the store's tables and makes them again with a new epoch: every id issued before reads
   * as `stale: "unknown"`. Calls `onReset`.
   *
   * @returns The new epoch's "before the first event" id.
   */
  reset(): string {
    this.#sql.exec(`DROP TABLE IF EXISTS ${this.#events}`);
    this.#sql.exec(`DROP TABLE IF EXISTS ${this.#meta}`);
    this.#state = this.#open();
    const lastId = this.lastId;
    this.#onReset?.(lastId);
    return lastId;
  }

  /** Makes the tables if needed and reads the store's state. */
  #open(): Meta {
    const sql = this.#sql;
    sql.exec(
      `CREATE TABLE IF NOT EXISTS ${this.#meta} (id INTEGER PRIMARY KEY CHECK (id = 1), epoch TEXT NOT NULL, last INTEGER NOT NULL, dropped INTEGER NOT NULL)`,
    );
    sql.exec(
      `CREATE TABLE IF NOT EXISTS ${this.#events} (seq INTEGER PRIMARY KEY, type TEXT NOT NULL, data TEXT NOT NULL, retry INTEGER, time INTEGER NOT NULL)`,
    );
    sql.exec(
      `INSERT OR IGNORE INTO ${this.#meta} (id, epoch, last, dropped) VALUES (1, ?, 0, 0)`,
      randomEpoch(),
    );
    const row = sql
      .exec(`SELECT epoch, last, dropped FROM ${this.#meta} WHERE id = 1`)
      .toArray()[0];
    if (
      row === undefined ||
      typeof row.epoch !== "string" ||
      !/^[A-Za-z0-9_-]{1,64}$/.test(row.epoch)
    ) {
      throw new TypeError(`Cannot open SQL event store: table ${this.#meta} holds no valid epoch`);
    }
    const state: Meta = {
      epoch: row.epoch,
      last: Number(row.last),
      dropped: Number(row.dropped),
      oldest: undefined,
    };
    this.#state = state;
    state.oldest = this.#oldestTime();
    return state;
  }

  /**
   * Runs `step` on the store's tables; if they are gone (the storage was deleted under the
   * store), makes them again with a new epoch, calls `onReset`, and runs `step` once more.
   */
  #live<T>(step: () => T): T {
    try {
      return step();
    } catch (error) {
      if (!/no such table/i.test(String((error as Error | undefined)?.message ?? error))) {
        throw error;
      }
    }
    this.#open();
    this.#onReset?.(this.lastId);
    return step();
  }

  /** When the oldest held event was stored, or `undefined` when none is held. */
  #oldestTime(): number | undefined {
    const row = this.#sql
      .exec(`SELECT time FROM ${this.#events} ORDER BY seq LIMIT 1`)
      .toArray()[0] as Record<string, SqlValue> | undefined;
    return row === undefined ? undefined : Number(row.time);
  }

  /** Drops the events older than `maxAge`; returns how many. */
  #expire(now: number): number {
    const state = this.#state;
    if (state.oldest === undefined || state.oldest > now - this.#maxAge) return 0;
    const limit = now - this.#maxAge;
    // The expired events are a prefix (ids follow time): step until the first one that is not.
    let cut = state.dropped;
    let oldest: number | undefined;
    for (const row of this.#sql.exec(`SELECT seq, time FROM ${this.#events} ORDER BY seq`)) {
      if (Number(row.time) > limit) {
        oldest = Number(row.time);
        break;
      }
      cut = Number(row.seq);
    }
    const count = cut - state.dropped;
    if (count > 0) {
      this.#sql.exec(`DELETE FROM ${this.#events} WHERE seq <= ?`, cut);
      state.dropped = cut;
      this.#sql.exec(`UPDATE ${this.#meta} SET dropped = ? WHERE id = 1`, cut);
    }
    state.oldest = oldest;
    return count;
  }

  /** The sequence of one of this epoch's ids, or `undefined` for anything else. */
  #parse(id: string): number | undefined {
    if (typeof id !== "string") return undefined;
    const match = ID.exec(id);
    if (match === null || match[1] !== this.#state.epoch) return undefined;
    const sequence = Number(match[2]);
    return Number.isSafeInteger(sequence) ? sequence : undefined;
  }
}
