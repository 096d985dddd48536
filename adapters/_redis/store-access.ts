/**
 * The door through which the Redis store's feed (`tail.ts`) reaches the store's private
 * commands, the same pattern as the core's `src/_internal/access.ts`.
 *
 * `RedisEventStore`'s `static` block fills {@linkcode stores} when `adapters/redis.ts` is
 * evaluated; a feed only exists once a store made it, so the door is always filled before use.
 *
 * @module
 */
import type { RedisEventStore } from "../redis.ts";

/** The read script's reply, parsed. */
export interface RawRead {
  epoch: string;
  last: number;
  /** Flat: sequence, nonce, type, data, retry (`""`: none), per entry. */
  entries: string[];
}

/** Filled by `RedisEventStore`'s static block. */
export interface StoreAccess {
  /**
   * The channel's epoch, newest sequence and up to `limit` entries after the sequence `after`
   * (`""`: from the oldest), or from `after` on when `inclusive`.
   */
  read(store: RedisEventStore, after: string, limit: number, inclusive?: boolean): Promise<RawRead>;
  /** Moves the channel to a new epoch if Redis still holds `epoch` at `last`; no entries. */
  rotate(store: RedisEventStore, epoch: string, last: number): Promise<RawRead>;
}

function unset(): never {
  throw new Error("sendevents/redis: the store's access is used before RedisEventStore is defined");
}

export const stores: StoreAccess = { read: unset, rotate: unset };
