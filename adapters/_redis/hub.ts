/**
 * The Redis store's subscriber side: one {@linkcode Hub} per client object per process, one
 * subscriber connection, one `SUBSCRIBE` per channel while some feed of this process listens.
 *
 * @module
 */
import type { RedisConnection, RedisSubscriber } from "../redis.ts";
import type { Tail } from "./tail.ts";

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
export class Hub {
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
 * The hub of `client`, made on first use: every store built on one client object shares its
 * subscriber connection (`connection` is the store's view of that client).
 */
export function hubFor(client: object, connection: RedisConnection): Hub {
  let hub = HUBS.get(client);
  if (hub === undefined) {
    hub = new Hub(connection);
    HUBS.set(client, hub);
  }
  return hub;
}
