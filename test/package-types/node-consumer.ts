// The Node entry, checked in the Node setup of test/package-types.test.ts.
import { sendEvents } from "sendevents";
import { createListener, type NodeServer, serve } from "sendevents/node";
import type { RedisConnection } from "sendevents/redis";

export async function start(): Promise<NodeServer> {
  const server = await serve((request) => sendEvents(request).response, { port: 0 });
  createListener((request) => sendEvents(request).response, { sendTimeout: 5000 });
  await server.shutdown({ retry: 1000, jitter: 1000, deadline: 5000 });
  return server;
}

// The Redis store takes a node-redis client as it is, and any RedisConnection.
export async function scaleOut(): Promise<void> {
  const { createClient } = await import("redis");
  const { Channel } = await import("sendevents");
  const { RedisEventStore } = await import("sendevents/redis");
  const redis = createClient({ url: "redis://127.0.0.1:6379" });
  await redis.connect();
  await using store = new RedisEventStore(redis, { key: "room", maxEvents: 100 });
  const room = new Channel("room", { store });
  const event = await room.broadcast("hi");
  const position: string | undefined = event.id;
  void position;
  const connection: RedisConnection = {
    sendCommand: (args) => redis.sendCommand(args),
    subscriber: () => {
      throw new Error("not in this check");
    },
  };
  void new RedisEventStore(connection, { key: "other" });
  // @ts-expect-error: the key is required
  void new RedisEventStore(redis, {});
}
