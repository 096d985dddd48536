/**
 * The {@linkcode RedisConnection} a store runs on (declared with the entry, `adapters/redis.ts`),
 * and the adapter to it from node-redis (`redis` v4 and v5).
 *
 * @module
 */

import type { NodeRedisClient, RedisConnection, RedisSubscriber } from "../redis.ts";

/**
 * The connection a store runs on: `client` itself if it is a {@linkcode RedisConnection}, an
 * adapter if it is a node-redis client, otherwise `undefined`.
 */
export function connectionOf(client: unknown): RedisConnection | undefined {
  if (isNodeRedisClient(client)) return nodeRedisConnection(client);
  const connection = client as Partial<RedisConnection> | null;
  return typeof connection?.sendCommand === "function" &&
    typeof connection.subscriber === "function"
    ? (connection as RedisConnection)
    : undefined;
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
