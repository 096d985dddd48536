/**
 * `sendevents/redis`: {@linkcode RedisEventStore}, an {@linkcode EventStore} on a Redis server
 * that makes every `Channel` of the same name, in every process that uses the same Redis, behave
 * as one channel: one order, every event once, resume on any instance.
 *
 * @example Two instances, one room
 * ```ts
 * import { createClient } from "redis";
 * import { Channel } from "sendevents";
 * import { RedisEventStore } from "sendevents/redis";
 *
 * const redis = createClient({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
 * redis.on("error", (error) => console.error("redis", error));
 * await redis.connect();
 * const room = new Channel("room", { store: new RedisEventStore(redis, { key: "room" }) });
 * await room.broadcast("hello", { type: "chat" }); // reaches the room's members on every instance
 * ```
 *
 * @module
 */

import { checkInteger, MAX_DELAY } from "../src/_internal/check-integer.ts";
import { describe } from "../src/_internal/describe.ts";
import type {
  EventRecord,
  EventStore,
  EventStoreFeed,
  EventStoreReadOptions,
  EventStoreReadResult,
  EventStoreSubscription,
  ServerSentEvent,
} from "../src/index.ts";
import { Scripts } from "./_redis/commands.ts";
import { connectionOf } from "./_redis/connection.ts";
import { withTimeout } from "./_redis/deadlines.ts";
import { type Hub, hubFor } from "./_redis/hub.ts";
import { epochSource, parseId, toEvent } from "./_redis/ids.ts";
import { APPEND_SCRIPT, READ_SCRIPT, ROTATE_SCRIPT, TRIM_SCRIPT } from "./_redis/scripts.ts";
import { type RawRead, stores } from "./_redis/store-access.ts";
import { Tail } from "./_redis/tail.ts";

/** The process's one subscriber connection, from {@linkcode RedisConnection.subscriber}. */
export interface RedisSubscriber {
  /**
   * `SUBSCRIBE channel`; resolves once Redis confirmed it. `listener` is called with every
   * message published to `channel`, as a string, in the order Redis sent them.
   */
  subscribe(channel: string, listener: (message: string) => void): Promise<void>;
  /** `UNSUBSCRIBE channel`; the listener is called no more. */
  unsubscribe(channel: string): Promise<void>;
  /**
   * Calls `listener` each time the connection is back after it dropped (messages published
   * meanwhile are lost: the store then reads them from the stream). The subscriptions are
   * expected back too; the store reads the history again a moment later in case they were late.
   */
  onReconnect(listener: () => void): void;
  /** Closes the connection. */
  close(): Promise<void>;
}

/**
 * The commands a {@linkcode RedisEventStore} sends: `EVALSHA`, `EVAL` (after `NOSCRIPT`) and
 * `SCRIPT LOAD` through `sendCommand`, and `SUBSCRIBE` / `UNSUBSCRIBE` on one second connection
 * per process. The scripts call `HGET`, `HSET`, `HINCRBY`, `DEL`, `TIME`, `XADD`, `XRANGE`,
 * `XTRIM`, `PEXPIRE` and `PUBLISH` (Redis 6.2 or later).
 *
 * @example A connection over any client with a generic command method
 * ```ts
 * import type { RedisConnection } from "sendevents/redis";
 *
 * declare const client: { call(...args: string[]): Promise<unknown> };
 * declare function openSubscriber(): ReturnType<RedisConnection["subscriber"]>;
 * const connection: RedisConnection = {
 *   sendCommand: (args) => client.call(...args),
 *   subscriber: openSubscriber,
 * };
 * ```
 */
export interface RedisConnection {
  /**
   * Sends one command, such as `["EVALSHA", sha, "2", key1, key2, ...args]`, and resolves with its
   * reply: arrays as arrays, bulk strings as strings, integers as numbers or strings, nil as
   * `null`. A Redis error rejects, its message starting with the error code (`NOSCRIPT ...`).
   * Commands sent in one order must run in that order (one connection, pipelined). When
   * `signal` aborts (the store's `timeout` passed), a command not yet sent to Redis should be
   * dropped rather than sent later.
   */
  sendCommand(args: string[], signal?: AbortSignal): Promise<unknown>;
  /** Opens the subscriber connection; the store calls it once per connection object. */
  subscriber(): RedisSubscriber;
}

/** The part of a node-redis client (`createClient()` of `redis` v4 or v5) the store uses. */
export interface NodeRedisClient {
  /** v5 reads `abortSignal`, v4 `signal`. */
  sendCommand(
    args: string[],
    options?: { abortSignal?: AbortSignal; signal?: AbortSignal },
  ): Promise<unknown>;
  /** A second client with the same options: the store's subscriber connection. */
  duplicate(): NodeRedisClient;
  /** Connects the client. */
  connect(): Promise<unknown>;
  /** Subscribes to a Pub/Sub channel (the subscriber connection only). */
  subscribe(
    channel: string,
    listener: (message: string, channel: string) => void,
  ): Promise<unknown>;
  /** Leaves a Pub/Sub channel. */
  unsubscribe(channel: string): Promise<unknown>;
  /** Listens for the client's `error`, `ready` and `end` events. */
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  /** Connected or connecting. */
  readonly isOpen: boolean;
  /** Connected and ready for commands (`isReady` in node-redis 4 and 5). */
  readonly isReady?: boolean;
  /** Closes the connection (node-redis 5). */
  close?(): Promise<unknown>;
  /** Closes the connection (node-redis 4). */
  quit?(): Promise<unknown>;
}

/** The default {@linkcode RedisEventStoreOptions.maxEvents}. */
const DEFAULT_MAX_EVENTS = 1000;
/** The default {@linkcode RedisEventStoreOptions.maxAge}: 5 minutes. */
const DEFAULT_MAX_AGE = 5 * 60_000;
/** The default {@linkcode RedisEventStoreOptions.timeout}. */
const DEFAULT_TIMEOUT = 5000;
/** The default {@linkcode RedisEventStoreOptions.checkInterval}. */
const DEFAULT_CHECK_INTERVAL = 1000;
/** What a failed constructor's error message starts with. */
const ACTION = "Cannot create Redis event store";
const KEY = /^[^{}\s]{1,200}$/;

/** Options for {@linkcode RedisEventStore}. */
export interface RedisEventStoreOptions {
  /**
   * The channel's key in Redis: every store with the same `key` (and `prefix`) on the same Redis
   * is the same channel. 1 to 200 characters, no whitespace, `{` or `}` (it becomes the hash tag
   * that keeps the channel's keys in one Redis Cluster slot).
   */
  key: string;
  /**
   * Prepended to every Redis key and pub/sub channel: `<prefix>:{<key>}:meta`, `:stream`, `:live`.
   * @default "sendevents"
   */
  prefix?: string;
  /**
   * The most events kept in the stream (`XADD MAXLEN`); the oldest go first.
   * @default 1000
   */
  maxEvents?: number;
  /**
   * Milliseconds an event is kept (a positive integer); `Infinity` keeps events until
   * `maxEvents` pushes them out. Measured by Redis' clock.
   * @default 300000
   */
  maxAge?: number;
  /**
   * Milliseconds a command may take before it rejects (Redis unreachable): `broadcast` then
   * rejects, and a member whose replay cannot start is ended with `"error"`. An integer up to
   * 2^31 - 1, a timer's longest delay.
   * @default 5000
   */
  timeout?: number;
  /**
   * Milliseconds between the feed's checks of the stream's newest id, which catch an event whose
   * notification was lost (a dropped subscriber connection) even when no event follows it. An
   * integer up to 2^31 - 1, a timer's longest delay.
   * @default 1000
   */
  checkInterval?: number;
}

/**
 * An {@linkcode EventStore} on Redis, for a channel served by several processes. Every `Channel`
 * whose store has the same `key` on the same Redis behaves as one channel: each of its members,
 * on every instance, is sent every broadcast once, in the one order Redis assigned, and a client
 * resumes on any instance with exactly what it missed, or one `stale` event.
 *
 * - Ids are `<epoch>:<sequence>`, the sequence contiguous per channel. The epoch lives in Redis:
 *   a Redis that comes back empty, or lost the channel's keys, starts a new one, and every id of
 *   the old one reads as `stale: "unknown"`; so does an id ahead of the newest (Redis rewound).
 * - `append` is one Lua script: the next sequence (`HINCRBY`), the history entry (`XADD` to a
 *   stream bounded by `maxEvents` and `maxAge`) and the live notification (`PUBLISH`) at once.
 * - The channel's members are fed from pub/sub, one subscription per channel per process while it
 *   has members; a jump in the sequence (a lost notification, a dropped subscriber connection) is
 *   filled from the stream, or reported as `stale`.
 * - Cost: one command connection (yours) and one subscriber connection (its `duplicate()`) per
 *   Redis client per process, whatever the number of channels and clients.
 *
 * Attach an `"error"` listener to your client (node-redis emits one per failed reconnect), and
 * `close()` the store when done: it stops its subscriptions and, with the last store on that
 * client, the subscriber connection.
 *
 * @example A room shared by every instance
 * ```ts
 * import { createClient } from "redis";
 * import { Channel, sendEvents } from "sendevents";
 * import { RedisEventStore } from "sendevents/redis";
 *
 * const redis = createClient({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
 * redis.on("error", () => {});
 * await redis.connect();
 * const room = new Channel("room", { store: new RedisEventStore(redis, { key: "room" }) });
 *
 * export function handler(request: Request): Response {
 *   const { response, target } = sendEvents(request);
 *   void room.register(target); // resumes after Last-Event-ID, whichever instance issued it
 *   return response;
 * }
 * ```
 */
export class RedisEventStore implements EventStore, AsyncDisposable {
  readonly #hub: Hub;
  readonly #scripts: Scripts;
  readonly #key: string;
  readonly #channel: string;
  readonly #maxEvents: string;
  readonly #maxAge: string;
  readonly #timeout: number;
  readonly #checkInterval: number;
  readonly #nextEpoch = epochSource();
  #tail: Tail | undefined;
  #usesHub = false;
  #closed = false;

  static {
    // The door of adapters/_redis/store-access.ts: the feed reads through the store's commands.
    stores.read = (store, after, limit, inclusive) => store.#readRaw(after, limit, inclusive);
    stores.rotate = (store, epoch, last) => store.#rotate(epoch, last);
  }

  /**
   * Creates a store for one channel's events in one Redis stream, on a connected client.
   *
   * @param client A connected node-redis client (`createClient()` of `redis` v4 or v5), or any
   *   {@linkcode RedisConnection}.
   * @param options `key` (required), `prefix`, `maxEvents`, `maxAge`, `timeout`, `checkInterval`.
   * @throws {TypeError} If `client` is neither, or `key` or `prefix` is not a valid name.
   * @throws {RangeError} If a number option is out of range.
   */
  constructor(client: NodeRedisClient | RedisConnection, options: RedisEventStoreOptions) {
    const connection = connectionOf(client);
    if (connection === undefined) {
      throw new TypeError(
        `${ACTION}: expected a node-redis client or a RedisConnection, received ${describe(client)}`,
      );
    }
    const key = (options as Partial<RedisEventStoreOptions> | undefined)?.key;
    if (typeof key !== "string" || !KEY.test(key)) {
      throw new TypeError(
        `${ACTION}: "key" must be 1 to 200 characters without whitespace, "{" or "}", received ${describe(key)}`,
      );
    }
    const prefix = options.prefix ?? "sendevents";
    if (typeof prefix !== "string" || !KEY.test(prefix)) {
      throw new TypeError(
        `${ACTION}: "prefix" must be 1 to 200 characters without whitespace, "{" or "}", received ${describe(prefix)}`,
      );
    }
    this.#maxEvents = String(
      checkInteger(ACTION, "maxEvents", options.maxEvents ?? DEFAULT_MAX_EVENTS, 1),
    );
    const maxAge = options.maxAge ?? DEFAULT_MAX_AGE;
    this.#maxAge =
      maxAge === Infinity
        ? "0"
        : String(checkInteger(ACTION, "maxAge", maxAge, 1, undefined, "Infinity"));
    this.#timeout = checkInteger(
      ACTION,
      "timeout",
      options.timeout ?? DEFAULT_TIMEOUT,
      1,
      MAX_DELAY,
    );
    this.#checkInterval = checkInteger(
      ACTION,
      "checkInterval",
      options.checkInterval ?? DEFAULT_CHECK_INTERVAL,
      1,
      MAX_DELAY,
    );
    this.#hub = hubFor(client, connection);
    this.#key = key;
    const base = `${prefix}:{${key}}`;
    this.#scripts = new Scripts(connection, [`${base}:meta`, `${base}:stream`], this.#timeout);
    this.#channel = `${base}:live`;
  }

  /** The channel's key in Redis. */
  get key(): string {
    return this.#key;
  }

  /**
   * Appends the event: the next sequence, the stream entry and the notification of every
   * instance, in one script.
   *
   * @returns The stored event, its id set.
   * @throws {Error} (rejects) If Redis fails or does not answer within `timeout`. A timed-out
   *   append may still be applied once Redis answers, as with any command that timed out.
   */
  async append(record: EventRecord): Promise<ServerSentEvent> {
    const reply = (await this.#scripts.run(
      `append to ${JSON.stringify(this.#key)}`,
      APPEND_SCRIPT,
      [
        this.#nextEpoch(),
        this.#maxEvents,
        this.#maxAge,
        this.#channel,
        record.type,
        record.data,
        record.retry === undefined ? "" : String(record.retry),
      ],
    )) as [string, string];
    return toEvent(
      String(reply[0]),
      String(reply[1]),
      record.type,
      record.data,
      record.retry === undefined ? "" : String(record.retry),
    );
  }

  /**
   * Reads the events after `afterId`, oldest first.
   *
   * @returns The events, or `stale: "unknown"` for an id of another epoch (a Redis restart, lost
   *   keys, another channel, a forged id) or ahead of the newest, or `stale: "expired"` when
   *   events after it were trimmed.
   * @throws {RangeError} If `limit` is not a positive integer.
   */
  async read(afterId: string, options: EventStoreReadOptions = {}): Promise<EventStoreReadResult> {
    const limit =
      options.limit === undefined
        ? 10_000
        : checkInteger("Cannot read events", "limit", options.limit, 1);
    const id = parseId(afterId);
    if (afterId !== "" && id === undefined) {
      const read = await this.#readRaw("", 0);
      return { events: [], stale: "unknown", lastId: `${read.epoch}:${read.last}` };
    }
    const after = id?.sequence;
    const read = await this.#readRaw(after === undefined ? "" : String(after), limit);
    const lastId = `${read.epoch}:${read.last}`;
    const { entries } = read;
    if (after !== undefined) {
      if (id!.epoch !== read.epoch || after > read.last) {
        return { events: [], stale: "unknown", lastId };
      }
      if (after < read.last && Number(entries[0]) !== after + 1) {
        return { events: [], stale: "expired", lastId };
      }
    }
    const events: ServerSentEvent[] = [];
    for (let i = 0; i < entries.length; i += 5) {
      const sequence = Number(entries[i]);
      if (after !== undefined && sequence !== after + 1 + i / 5) {
        // A hole in the middle (aged out): stop before it; the caller reads on and sees it.
        break;
      }
      events.push(
        toEvent(read.epoch, entries[i]!, entries[i + 2]!, entries[i + 3]!, entries[i + 4]!),
      );
    }
    return { events, lastId };
  }

  /**
   * Drops the events older than `maxAge` (appends do it too, a few at a time; Redis expires an
   * idle channel's whole stream after `maxAge`).
   *
   * @returns How many events were dropped.
   */
  async trim(): Promise<number> {
    if (this.#maxAge === "0") return 0;
    const reply = await this.#scripts.run(`trim ${JSON.stringify(this.#key)}`, TRIM_SCRIPT, [
      this.#nextEpoch(),
      this.#maxAge,
    ]);
    return Number(reply);
  }

  /**
   * Orders two ids by sequence.
   *
   * @throws {TypeError} If either is not an `<epoch>:<sequence>` id.
   */
  compare(a: string, b: string): number {
    const x = parseId(a);
    const y = parseId(b);
    if (x === undefined || y === undefined) {
      throw new TypeError(
        `Cannot compare event ids: ${describe(x === undefined ? a : b)} is not an id of a Redis event store`,
      );
    }
    return x.sequence - y.sequence;
  }

  /**
   * Starts this process's feed of the channel (a `Channel` calls it for its first member): one
   * pub/sub subscription, shared by every channel on this store.
   *
   * @param feed Called with every event appended by any instance, in order, or with `stale`.
   * @returns `ready` once subscribed and positioned; `close()` to stop.
   * @throws {Error} If the store was closed.
   */
  subscribe(feed: EventStoreFeed): EventStoreSubscription {
    if (this.#closed) {
      throw new Error(`Cannot subscribe to ${JSON.stringify(this.#key)}: the store was closed`);
    }
    if (this.#tail === undefined) {
      if (!this.#usesHub) {
        this.#usesHub = true;
        this.#hub.acquire();
      }
      const tail: Tail = new Tail(
        this,
        async (tail) => {
          await withTimeout(
            this.#hub.add(this.#channel, tail),
            this.#timeout,
            `Cannot subscribe to ${JSON.stringify(this.#key)}: Redis did not answer within ${this.#timeout} ms`,
          );
          return this.#readRaw("", 0);
        },
        this.#checkInterval,
      );
      this.#tail = tail;
    }
    const tail = this.#tail;
    tail.feeds.add(feed);
    let open = true;
    return {
      ready: tail.ready,
      close: () => {
        if (!open) return;
        open = false;
        tail.feeds.delete(feed);
        if (tail.feeds.size > 0 || this.#tail !== tail) return;
        this.#tail = undefined;
        tail.close();
        this.#hub.remove(this.#channel, tail);
      },
    };
  }

  /** Stops the store's feed and releases its share of the subscriber connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const tail = this.#tail;
    this.#tail = undefined;
    if (tail !== undefined) {
      tail.close();
      this.#hub.remove(this.#channel, tail);
    }
    if (this.#usesHub) await this.#hub.release();
  }

  /** Same as {@linkcode RedisEventStore.close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** The read script's reply, parsed; shared with the feed. */
  async #readRaw(after: string, limit: number, inclusive = false): Promise<RawRead> {
    const reply = (await this.#scripts.run(`read ${JSON.stringify(this.#key)}`, READ_SCRIPT, [
      this.#nextEpoch(),
      after,
      String(limit),
      this.#maxAge,
      inclusive ? "1" : "",
    ])) as unknown[];
    return {
      epoch: String(reply[0]),
      last: Number(reply[1]),
      entries: reply.slice(2).map(String),
    };
  }

  /** Moves the channel to a new epoch if Redis still holds `epoch` at `last`; shared with the feed. */
  async #rotate(epoch: string, last: number): Promise<RawRead> {
    const reply = (await this.#scripts.run(`rotate ${JSON.stringify(this.#key)}`, ROTATE_SCRIPT, [
      epoch,
      String(last),
      this.#nextEpoch(),
    ])) as unknown[];
    return { epoch: String(reply[0]), last: Number(reply[1]), entries: [] };
  }
}
