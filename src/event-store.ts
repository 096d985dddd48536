import type { ServerSentEvent } from "./server-sent-event.ts";

/**
 * What a channel hands to its {@linkcode EventStore}: an event without an id, its data already
 * serialised (the wire string), so any store can keep it as text.
 */
export interface EventRecord {
  /** The event type; `"message"` is what `EventSource.onmessage` receives. */
  readonly type: string;
  /** The payload as it goes on the wire (already a string: JSON for non-string data). */
  readonly data: string;
  /** The `retry:` field, in milliseconds, if the event carries one. */
  readonly retry?: number | undefined;
}

/** Options for {@linkcode EventStore.read}. */
export interface EventStoreReadOptions {
  /** At most this many events are returned; the caller asks again after the last one for more. */
  limit?: number;
}

/**
 * Why a store could not resume from an id:
 * - `"expired"`: the id is one of this store's, but events after it were already dropped (by
 *   count, bytes or age), so replaying would leave a gap;
 * - `"unknown"`: the id was never issued by this store: another epoch (a restart), another
 *   channel's store, a forged or malformed value.
 */
export type EventStoreStaleReason = "expired" | "unknown";

/** What {@linkcode EventStore.read} returns. */
export type EventStoreReadResult =
  | {
      /** The events after the id, oldest first, ids assigned by the store. */
      readonly events: readonly ServerSentEvent[];
      readonly stale?: undefined;
      /**
       * The newest id in the store when it was read. A store that has never held an event gives
       * an id that means "before the first event" (`<epoch>:0`, `0-0`), or `""`.
       */
      readonly lastId: string;
    }
  | {
      readonly events: readonly [];
      /** The id cannot be resumed from: the caller must resynchronise its client. */
      readonly stale: EventStoreStaleReason;
      /**
       * The newest id in the store when it was read: the client's position from now on. A store
       * that has never held an event gives its "before the first event" id, or `""`.
       */
      readonly lastId: string;
    };

/**
 * What a channel hands {@linkcode EventStore.subscribe}: the store calls it with every event
 * appended to it from then on (by any process that shares the store), in the store's order.
 */
export interface EventStoreFeed {
  /**
   * The next event. The store calls this in id order with no gap: each event follows the one
   * before it. An event the store cannot deliver in order is never skipped silently: the store
   * fills the gap from its history, or calls `stale`.
   */
  event(event: ServerSentEvent): void;
  /**
   * The feed lost continuity (its connection dropped and the history no longer covers the gap,
   * or the store restarted with a new epoch). `lastId` is the store's newest id: events after it
   * follow through `event` again. The channel tells its members to resynchronise.
   */
  stale(reason: EventStoreStaleReason, lastId: string): void;
}

/** What {@linkcode EventStore.subscribe} returns. */
export interface EventStoreSubscription {
  /**
   * Resolves with the store's newest id once every event appended after it will reach the feed,
   * or rejects if the store could not subscribe (the channel then ends its members with
   * `"error"`, and they resume when they reconnect).
   */
  readonly ready: Promise<string>;
  /** Stops the feed; idempotent. */
  close(): void;
}

/**
 * Keeps the recent events of one channel, so a client that reconnects with `Last-Event-ID` gets
 * what it missed. {@linkcode MemoryEventStore} is the in-process default.
 *
 * The store, not the caller, assigns ids. Ids are strings, ordered (in the order `append` was
 * called), opaque to clients, and carry an *epoch*: an id from before a restart, or from another
 * store, is recognised as foreign (`stale: "unknown"`) instead of being mis-read as a position in
 * this one.
 *
 * Every method but `compare` is asynchronous so that an external store fits behind the same
 * interface. A store without `subscribe` must assign ids in call order (one connection,
 * pipelined, does), because the channel then delivers live events in the order it called
 * `append`.
 *
 * A store shared by several processes (`RedisEventStore` from `sendevents/redis`) implements
 * `subscribe`: the channel then sends its members what the store's feed delivers (its own
 * appends included) rather than what `append` returned, so every process delivers the one order
 * the store assigned.
 *
 * @example A store that keeps the last 100 events of at most 64 KiB, for 1 minute
 * ```ts
 * import { Channel, MemoryEventStore } from "sendevents";
 *
 * const store = new MemoryEventStore({ maxEvents: 100, maxBytes: 64 * 1024, maxAge: 60_000 });
 * const channel = new Channel("prices", { store });
 * const event = await channel.broadcast({ price: 42 });
 * console.log(event.id); // assigned by the store
 * ```
 */
export interface EventStore {
  /**
   * Stores an event and assigns its id.
   *
   * @param record The event's type, wire data and retry.
   * @returns The stored event, its `id` set: the one object every client is sent, encoded once.
   */
  append(record: EventRecord): Promise<ServerSentEvent>;
  /**
   * Reads the events after `afterId`, oldest first. `""` reads from the oldest event held.
   *
   * @param afterId The id a client last saw (its `Last-Event-ID`), or `""`.
   * @param options `limit`: at most this many events.
   * @returns The events, or a `stale` reason when `afterId` cannot be resumed from without a gap.
   */
  read(afterId: string, options?: EventStoreReadOptions): Promise<EventStoreReadResult>;
  /**
   * Drops the events its bounds no longer allow (those past their maximum age).
   *
   * @returns How many events were dropped.
   */
  trim(): Promise<number>;
  /**
   * Orders two ids this store issued: negative if `a` came first, positive if `b` did, `0` if they
   * are the same.
   */
  compare(a: string, b: string): number;
  /**
   * Optional, for stores shared by several processes: starts a feed of every event appended to
   * the store from now on, by anyone, in id order. A channel subscribes when it gets its first
   * member and closes the subscription when the last one leaves.
   *
   * @param feed Called with each event, or told that the feed had to skip (`stale`).
   * @returns The subscription: `ready` once live, `close()` to stop.
   */
  subscribe?(feed: EventStoreFeed): EventStoreSubscription;
}
