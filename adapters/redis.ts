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
import {
  type EventRecord,
  type EventStore,
  type EventStoreFeed,
  type EventStoreReadOptions,
  type EventStoreReadResult,
  type EventStoreSubscription,
  ServerSentEvent,
} from "../src/index.ts";
import { isNodeRedisClient, nodeRedisConnection } from "./_redis/connection.ts";
import { APPEND_SCRIPT, READ_SCRIPT, ROTATE_SCRIPT, TRIM_SCRIPT } from "./_redis/scripts.ts";

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
/** Events a feed reads from the stream per call while it catches up. */
const FILL_BATCH = 512;
/** Live messages a feed holds while it catches up; past that it reads them from the stream. */
const MAX_BUFFERED = 10_000;
/** Recent events whose nonces a feed keeps, to tell a repeated notification from a new one. */
const RECENT = 1024;
/** Delay before a feed that could not read the stream tries again, doubled up to 8 times. */
const RETRY_DELAY = 100;
/** What a failed constructor's error message starts with. */
const ACTION = "Cannot create Redis event store";
const KEY = /^[^{}\s]{1,200}$/;
const ID = /^([A-Za-z0-9_-]{1,64}):(0|[1-9][0-9]{0,15})$/;

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

interface Position {
  epoch: string;
  sequence: number;
  /** The nonce of the event at `sequence`, once the feed has delivered one. */
  nonce?: string | undefined;
}

interface RawRead {
  epoch: string;
  last: number;
  /** Flat: sequence, nonce, type, data, retry (`""`: none), per entry. */
  entries: string[];
}

/**
 * A source of epoch candidates: each call gives one never given before, from a random prefix per
 * store and a counter, so a Redis that lost the channel never gets an epoch it had before.
 */
function epochSource(): () => string {
  const prefix = randomEpoch();
  let count = 0;
  return () => prefix + (count++).toString(36);
}

function randomEpoch(): string {
  const bytes = new Uint8Array(6);
  // Node 18 has no global `crypto` (Node 19 has): fall back to Math.random, enough for an epoch,
  // which must only differ from the channel's earlier ones.
  if (globalThis.crypto?.getRandomValues) globalThis.crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  let epoch = "";
  for (const byte of bytes) epoch += byte.toString(36).padStart(2, "0");
  return epoch;
}

function toEvent(epoch: string, sequence: string, type: string, data: string, retry: string) {
  return new ServerSentEvent(type, data, {
    id: `${epoch}:${sequence}`,
    ...(retry === "" ? {} : { retry: Number(retry) }),
  });
}

/** Rejects with `message` if `promise` has not settled within `ms`; the timer never lingers. */
function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

interface Deadline {
  readonly at: number;
  readonly fail: () => void;
  done: boolean;
}

/** An AbortSignal's one method the store needs; `AbortController` where the runtime has it. */
function abortController(): { signal: AbortSignal; abort(): void } | undefined {
  return typeof AbortController === "function" ? new AbortController() : undefined;
}

/**
 * The timeouts of a store's commands: one timer for the oldest pending one, not one per
 * command (a timer each costs about a fifth of an append's CPU). Every command has the same
 * timeout, so deadlines come in the order they were set.
 */
class Deadlines {
  readonly #ms: number;
  #queue: Deadline[] = [];
  #head = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(ms: number) {
    this.#ms = ms;
  }

  /**
   * Runs `start` against the clock: rejects with `message` once it is `ms` late, and aborts the
   * signal `start` was given, so a command still waiting in the client's queue (Redis away) is
   * dropped rather than sent when Redis is back.
   */
  watch<T>(start: (signal: AbortSignal | undefined) => Promise<T>, message: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const controller = abortController();
      const deadline: Deadline = {
        at: Date.now() + this.#ms,
        fail: () => {
          reject(new Error(message));
          controller?.abort();
        },
        done: false,
      };
      const promise = start(controller?.signal);
      this.#queue.push(deadline);
      this.#arm();
      promise.then(
        (value) => {
          deadline.done = true;
          resolve(value);
        },
        (error: unknown) => {
          deadline.done = true;
          reject(error);
        },
      );
    });
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    while (this.#queue[this.#head]?.done) this.#head++;
    const head = this.#queue[this.#head];
    if (head === undefined) {
      this.#queue = [];
      this.#head = 0;
      return;
    }
    this.#timer = setTimeout(() => this.#expire(), Math.max(0, head.at - Date.now()));
    // Deno and Bun timers have no unref (theirs never hold the process for long either).
    (this.#timer as { unref?: () => void }).unref?.();
  }

  #expire(): void {
    this.#timer = undefined;
    const now = Date.now();
    for (let deadline = this.#queue[this.#head]; deadline !== undefined; ) {
      if (!deadline.done) {
        if (deadline.at > now) break;
        deadline.done = true;
        deadline.fail();
      }
      deadline = this.#queue[++this.#head];
    }
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    this.#arm();
  }
}

interface HubEntry {
  readonly tails: Set<Tail>;
  /** The channel's `SUBSCRIBE` / `UNSUBSCRIBE` steps, one after the other. */
  chain: Promise<void>;
  /** Steps queued and not done: the entry is forgotten only when none is. */
  pending: number;
  on: boolean;
}

/**
 * One subscriber connection per Redis client per process, shared by every store on that client:
 * one `SUBSCRIBE` per channel while some feed of this process listens to it.
 */
class Hub {
  readonly #connection: RedisConnection;
  #subscriber: RedisSubscriber | undefined;
  readonly #channels = new Map<string, HubEntry>();
  #users = 0;

  constructor(connection: RedisConnection) {
    this.#connection = connection;
  }

  /** A store starts using the hub. */
  acquire(): void {
    this.#users++;
  }

  /** A store is done with it: the last one closes the subscriber connection. */
  async release(): Promise<void> {
    if (--this.#users > 0) return;
    await Promise.allSettled([...this.#channels.values()].map((entry) => entry.chain));
    const subscriber = this.#subscriber;
    if (this.#users > 0 || subscriber === undefined) return;
    this.#subscriber = undefined;
    this.#channels.clear();
    await subscriber.close().catch(() => {});
  }

  #open(): RedisSubscriber {
    if (this.#subscriber === undefined) {
      const subscriber = this.#connection.subscriber();
      subscriber.onReconnect(() => {
        for (const entry of this.#channels.values()) for (const tail of entry.tails) tail.resync();
      });
      this.#subscriber = subscriber;
    }
    return this.#subscriber;
  }

  /** Adds `tail` to `channel`; resolves once this process is subscribed to it. */
  add(channel: string, tail: Tail): Promise<void> {
    let entry = this.#channels.get(channel);
    if (entry === undefined) {
      entry = { tails: new Set(), chain: Promise.resolve(), pending: 0, on: false };
      this.#channels.set(channel, entry);
    }
    entry.tails.add(tail);
    return this.#sync(channel, entry);
  }

  remove(channel: string, tail: Tail): void {
    const entry = this.#channels.get(channel);
    if (entry === undefined || !entry.tails.delete(tail)) return;
    this.#sync(channel, entry).catch(() => {});
  }

  /**
   * Subscribes or unsubscribes to match the channel's tails, one step at a time per channel: an
   * `UNSUBSCRIBE` is answered before the next `SUBSCRIBE` goes (the client would otherwise drop
   * the new listener with the old subscription).
   */
  #sync(channel: string, entry: HubEntry): Promise<void> {
    entry.pending++;
    const step = entry.chain.then(async () => {
      const wanted = entry.tails.size > 0;
      if (wanted === entry.on) return;
      if (!wanted && this.#subscriber === undefined) return;
      const subscriber = this.#open();
      if (wanted) {
        await subscriber.subscribe(channel, (message) => {
          for (const tail of entry.tails) tail.receive(message);
        });
        entry.on = true;
      } else {
        entry.on = false;
        await subscriber.unsubscribe(channel);
      }
    });
    entry.chain = step.then(
      () => this.#settled(channel, entry),
      () => this.#settled(channel, entry),
    );
    return step;
  }

  #settled(channel: string, entry: HubEntry): void {
    if (--entry.pending > 0 || entry.tails.size > 0 || entry.on) return;
    if (this.#channels.get(channel) === entry) this.#channels.delete(channel);
  }
}

const HUBS = new WeakMap<object, Hub>();

/**
 * A store's live feed in this process: the pub/sub messages of its channel, checked to be
 * contiguous, a jump filled from the stream (or reported `stale`).
 */
class Tail {
  readonly #store: RedisEventStore;
  readonly feeds = new Set<EventStoreFeed>();
  readonly ready: Promise<string>;
  #position: Position | undefined;
  #buffer: string[] = [];
  #filling = false;
  #again = false;
  #closed = false;
  #failures = 0;
  #retry: ReturnType<typeof setTimeout> | undefined;
  /** The nonces of the last {@linkcode RECENT} events delivered, by sequence modulo the size. */
  readonly #recentSequence = new Float64Array(RECENT);
  readonly #recentNonce: string[] = new Array<string>(RECENT).fill("");
  readonly #check: ReturnType<typeof setInterval>;

  constructor(store: RedisEventStore, start: (tail: Tail) => Promise<RawRead>, interval: number) {
    this.#store = store;
    this.ready = start(this).then((read) => {
      if (this.#closed) throw new Error("The subscription was closed before it was ready");
      this.#position = { epoch: read.epoch, sequence: read.last };
      this.#drain();
      return `${read.epoch}:${read.last}`;
    });
    this.ready.catch(() => {});
    this.#check = setInterval(() => {
      if (this.#position !== undefined) this.#fill();
    }, interval);
    // Deno and Bun timers have no unref (theirs never hold the process for long either).
    (this.#check as { unref?: () => void }).unref?.();
  }

  /** A pub/sub message: `<epoch>\n<seq>\n<nonce>\n<type>\n<retry>\n<data>`. */
  receive(message: string): void {
    if (this.#closed) return;
    if (this.#position === undefined || this.#filling) {
      this.#buffer.push(message);
      if (this.#buffer.length > MAX_BUFFERED) {
        // Everything is in the stream anyway: read it from there.
        this.#buffer = [];
        this.#again = true;
      }
      return;
    }
    if (!this.#live(message)) {
      this.#buffer.push(message);
      this.#fill();
    }
  }

  /** The subscriber connection is back: read what was published while it was away. */
  resync(): void {
    if (this.#position !== undefined) this.#fill();
  }

  close(): void {
    this.#closed = true;
    this.feeds.clear();
    clearInterval(this.#check);
    clearTimeout(this.#retry);
    this.#buffer = [];
  }

  /** Delivers `message` if it is the next event or drops it if seen; `false` on a jump. */
  #live(message: string): boolean {
    const position = this.#position!;
    const a = message.indexOf("\n");
    const b = message.indexOf("\n", a + 1);
    const c = message.indexOf("\n", b + 1);
    const d = message.indexOf("\n", c + 1);
    const e = message.indexOf("\n", d + 1);
    if (e < 0) return true; // not one of ours
    const epoch = message.slice(0, a);
    const sequence = Number(message.slice(a + 1, b));
    if (epoch !== position.epoch) return false;
    if (sequence <= position.sequence) {
      // Seen already (the overlap of a catch-up and the live feed), unless it is another event
      // under a seen id: Redis rewound. Then the catch-up finds it out and starts a new epoch.
      const slot = sequence % RECENT;
      const nonce = message.slice(b + 1, c);
      return this.#recentSequence[slot] !== sequence || this.#recentNonce[slot] === nonce;
    }
    if (sequence !== position.sequence + 1) return false;
    position.sequence = sequence;
    position.nonce = message.slice(b + 1, c);
    this.#remember(sequence, position.nonce);
    const event = toEvent(
      epoch,
      message.slice(a + 1, b),
      message.slice(c + 1, d),
      message.slice(e + 1),
      message.slice(d + 1, e),
    );
    this.#deliver(event);
    return true;
  }

  #remember(sequence: number, nonce: string): void {
    this.#recentSequence[sequence % RECENT] = sequence;
    this.#recentNonce[sequence % RECENT] = nonce;
  }

  #deliver(event: ServerSentEvent): void {
    for (const feed of this.feeds) {
      try {
        feed.event(event);
      } catch {
        // One channel's failure must not keep the event from the others.
      }
    }
  }

  #stale(reason: "expired" | "unknown", lastId: string): void {
    for (const feed of this.feeds) {
      try {
        feed.stale(reason, lastId);
      } catch {
        // As in #deliver.
      }
    }
  }

  /** Releases the held messages in order; a jump among them starts another fill. */
  #drain(): void {
    const buffer = this.#buffer;
    this.#buffer = [];
    for (let i = 0; i < buffer.length; i++) {
      if (this.#live(buffer[i]!)) continue;
      this.#buffer = buffer.slice(i);
      this.#fill();
      return;
    }
  }

  /** Reads the stream after the feed's position up to its newest event, then the held ones. */
  #fill(): void {
    if (this.#closed) return;
    if (this.#filling) {
      this.#again = true;
      return;
    }
    this.#filling = true;
    this.#catchUp().then(
      () => {
        this.#filling = false;
        this.#failures = 0;
        if (this.#closed) return;
        if (this.#again) {
          this.#again = false;
          this.#fill();
        } else {
          this.#drain();
        }
      },
      () => {
        // Redis is away: keep holding, try again later (the check timer also retries).
        this.#filling = false;
        if (this.#closed) return;
        const delay = RETRY_DELAY * 2 ** Math.min(this.#failures++, 8);
        clearTimeout(this.#retry);
        this.#retry = setTimeout(() => this.#fill(), delay);
        (this.#retry as { unref?: () => void }).unref?.();
      },
    );
  }

  async #catchUp(): Promise<void> {
    for (;;) {
      this.#again = false;
      const position = this.#position!;
      // From the feed's own position on, when it knows that event's nonce: an event of another
      // nonce there means Redis rewound and issued the id again.
      const check = position.nonce !== undefined;
      const read = await this.#store[readRaw](String(position.sequence), FILL_BATCH, check);
      if (this.#closed) return;
      let entries = read.entries;
      let rewound = read.last < position.sequence;
      if (check && read.epoch === position.epoch && Number(entries[0]) === position.sequence) {
        rewound ||= entries[1] !== position.nonce;
        entries = entries.slice(5);
      }
      if (read.epoch !== position.epoch || rewound) {
        // Redis restarted empty or lost the keys (a new epoch), or rewound (a failover to a
        // replica behind): then its next sequences would repeat ids clients have seen, so the
        // channel moves to a new epoch, for every instance and every resuming client.
        const now =
          read.epoch === position.epoch ? await this.#store[rotate](read.epoch, read.last) : read;
        if (this.#closed) return;
        this.#position = { epoch: now.epoch, sequence: now.last };
        this.#buffer = [];
        this.#stale("unknown", `${now.epoch}:${now.last}`);
        return;
      }
      if (read.last > position.sequence && Number(entries[0]) !== position.sequence + 1) {
        this.#position = { epoch: read.epoch, sequence: read.last };
        this.#stale("expired", `${read.epoch}:${read.last}`);
        return;
      }
      for (let i = 0; i < entries.length; i += 5) {
        const sequence = Number(entries[i]);
        if (sequence !== position.sequence + 1) {
          // An entry aged out in the middle: what follows cannot be sent without a gap.
          this.#position = { epoch: read.epoch, sequence: read.last };
          this.#stale("expired", `${read.epoch}:${read.last}`);
          return;
        }
        position.sequence = sequence;
        position.nonce = entries[i + 1];
        this.#remember(sequence, position.nonce!);
        this.#deliver(
          toEvent(read.epoch, entries[i]!, entries[i + 2]!, entries[i + 3]!, entries[i + 4]!),
        );
        if (this.#closed) return;
      }
      if (read.entries.length < FILL_BATCH * 5) return;
    }
  }
}

const readRaw = Symbol("readRaw");
const rotate = Symbol("rotate");

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
  readonly #connection: RedisConnection;
  readonly #hub: Hub;
  readonly #key: string;
  readonly #keys: string[];
  readonly #channel: string;
  readonly #maxEvents: string;
  readonly #maxAge: string;
  readonly #timeout: number;
  readonly #deadlines: Deadlines;
  readonly #checkInterval: number;
  readonly #shas = new Map<string, Promise<string>>();
  readonly #nextEpoch = epochSource();
  #tail: Tail | undefined;
  #usesHub = false;
  #closed = false;

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
    let connection: RedisConnection;
    if (isNodeRedisClient(client)) {
      connection = nodeRedisConnection(client);
    } else if (
      typeof (client as Partial<RedisConnection> | null)?.sendCommand === "function" &&
      typeof (client as Partial<RedisConnection>).subscriber === "function"
    ) {
      connection = client as RedisConnection;
    } else {
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
    this.#deadlines = new Deadlines(this.#timeout);
    this.#checkInterval = checkInteger(
      ACTION,
      "checkInterval",
      options.checkInterval ?? DEFAULT_CHECK_INTERVAL,
      1,
      MAX_DELAY,
    );
    // The hub is per client object: every store built on one client shares its subscriber.
    let hub = HUBS.get(client);
    if (hub === undefined) {
      hub = new Hub(connection);
      HUBS.set(client, hub);
    }
    this.#connection = connection;
    this.#hub = hub;
    this.#key = key;
    const base = `${prefix}:{${key}}`;
    this.#keys = [`${base}:meta`, `${base}:stream`];
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
    const reply = (await this.#run(`append to ${JSON.stringify(this.#key)}`, APPEND_SCRIPT, [
      this.#nextEpoch(),
      this.#maxEvents,
      this.#maxAge,
      this.#channel,
      record.type,
      record.data,
      record.retry === undefined ? "" : String(record.retry),
    ])) as [string, string];
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
    const match = typeof afterId === "string" ? ID.exec(afterId) : null;
    if (afterId !== "" && match === null) {
      const read = await this[readRaw]("", 0);
      return { events: [], stale: "unknown", lastId: `${read.epoch}:${read.last}` };
    }
    const after = match === null ? undefined : Number(match[2]);
    const read = await this[readRaw](after === undefined ? "" : String(after), limit);
    const lastId = `${read.epoch}:${read.last}`;
    const { entries } = read;
    if (after !== undefined) {
      if (match![1] !== read.epoch || after > read.last) {
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
    const reply = await this.#run(`trim ${JSON.stringify(this.#key)}`, TRIM_SCRIPT, [
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
    const x = typeof a === "string" ? ID.exec(a) : null;
    const y = typeof b === "string" ? ID.exec(b) : null;
    if (x === null || y === null) {
      throw new TypeError(
        `Cannot compare event ids: ${describe(x === null ? a : b)} is not an id of a Redis event store`,
      );
    }
    return Number(x[2]) - Number(y[2]);
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
          return this[readRaw]("", 0);
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
  async [readRaw](after: string, limit: number, inclusive = false): Promise<RawRead> {
    const reply = (await this.#run(`read ${JSON.stringify(this.#key)}`, READ_SCRIPT, [
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
  async [rotate](epoch: string, last: number): Promise<RawRead> {
    const reply = (await this.#run(`rotate ${JSON.stringify(this.#key)}`, ROTATE_SCRIPT, [
      epoch,
      String(last),
      this.#nextEpoch(),
    ])) as unknown[];
    return { epoch: String(reply[0]), last: Number(reply[1]), entries: [] };
  }

  /** Runs a script by its SHA, loading it first (and again after `NOSCRIPT`), within `timeout`. */
  #run(action: string, script: string, args: string[]): Promise<unknown> {
    const command = async (signal: AbortSignal | undefined): Promise<unknown> => {
      const keys = ["2", ...this.#keys];
      let sha = this.#shas.get(script);
      if (sha === undefined) {
        sha = this.#connection.sendCommand(["SCRIPT", "LOAD", script], signal).then(String);
        this.#shas.set(script, sha);
        sha.catch(() => this.#shas.delete(script));
      }
      try {
        return await this.#connection.sendCommand(["EVALSHA", await sha, ...keys, ...args], signal);
      } catch (error) {
        if (!String((error as Error | null)?.message).startsWith("NOSCRIPT")) throw error;
        // Redis restarted and lost its script cache: EVAL loads it again as it runs.
        this.#shas.delete(script);
        return this.#connection.sendCommand(["EVAL", script, ...keys, ...args], signal);
      }
    };
    return this.#deadlines
      .watch(command, `Cannot ${action}: Redis did not answer within ${this.#timeout} ms`)
      .catch((error: unknown) => {
        if (String((error as Error | null)?.message).startsWith("Cannot ")) throw error;
        throw new Error(`Cannot ${action}: ${(error as Error | null)?.message ?? String(error)}`, {
          cause: error,
        });
      });
  }
}
