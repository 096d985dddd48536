/**
 * What the Redis store needs from a Redis client, and the adapter from node-redis (`redis` v4 and
 * v5) to it. Another client (ioredis, `Bun.redis`) plugs in by implementing
 * {@linkcode RedisConnection}: one method for commands, one for the subscriber connection.
 *
 * @module
 */

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

/** Whether `value` looks like a node-redis client. */
export function isNodeRedisClient(value: unknown): value is NodeRedisClient {
  const client = value as Partial<NodeRedisClient> | null;
  return (
    typeof client?.sendCommand === "function" &&
    typeof client.duplicate === "function" &&
    typeof client.subscribe === "function"
  );
}

/**
 * Adapts a node-redis client: commands go through it, and the subscriber is its `duplicate()`,
 * whose errors are absorbed (node-redis reconnects it and restores its subscriptions; the store
 * catches up from the stream).
 */
export function nodeRedisConnection(client: NodeRedisClient): RedisConnection {
  return {
    // The signal only matters for a command that waits for a connection (it cannot be taken back
    // once sent), and costs an abort listener per command: pass it only while not ready.
    sendCommand: (args, signal) =>
      signal === undefined || client.isReady !== false
        ? client.sendCommand(args)
        : client.sendCommand(args, { abortSignal: signal, signal }),
    subscriber(): RedisSubscriber {
      const subscriber = client.duplicate();
      const reconnectListeners: (() => void)[] = [];
      let readyCount = 0;
      // node-redis emits "error" for every failed reconnect; unheard, it would crash the process.
      subscriber.on("error", () => {});
      subscriber.on("ready", () => {
        if (readyCount++ === 0) return;
        for (const listener of reconnectListeners) listener();
      });
      const connected = subscriber.connect();
      connected.then(undefined, () => {});
      return {
        async subscribe(channel, listener) {
          await connected;
          await subscriber.subscribe(channel, (message) => listener(message));
        },
        async unsubscribe(channel) {
          await connected;
          await subscriber.unsubscribe(channel);
        },
        onReconnect(listener) {
          reconnectListeners.push(listener);
        },
        async close() {
          reconnectListeners.length = 0;
          await connected.catch(() => {});
          if (!subscriber.isOpen) return;
          if (typeof subscriber.close === "function") await subscriber.close();
          else await subscriber.quit?.();
        },
      };
    },
  };
}
