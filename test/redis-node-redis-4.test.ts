/**
 * RedisEventStore with node-redis 4 (the peer range is `^4.6.0 || ^5.0.0`; the rest of the suite
 * uses 5): fan-out across two clients, resume, and catching up after `CLIENT KILL TYPE pubsub`.
 */
import { createClient } from "redis4";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { RedisEventStore } from "../adapters/redis.ts";
import { Channel, sendEvents } from "../src/index.ts";
import { type RedisServer, startRedis } from "./helpers/redis.ts";
import { parse } from "./helpers/stream.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("RedisEventStore with node-redis 4", () => {
  let redis: RedisServer;
  const clients: ReturnType<typeof createClient>[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    for (let i = 0; i < 3; i++) {
      const client = createClient({ url: redis.url });
      client.on("error", () => {});
      await client.connect();
      clients.push(client);
    }
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.quit()));
    await redis?.stop();
  });

  test("RedisEventStore on node-redis 4: one order on two instances, no gap across a killed subscriber, exact resume", async () => {
    const [a, b, admin] = clients as [
      ReturnType<typeof createClient>,
      ReturnType<typeof createClient>,
      ReturnType<typeof createClient>,
    ];
    const stores = [a, b].map(
      (client) => new RedisEventStore(client, { key: "v4", checkInterval: 200 }),
    );
    const channels = stores.map((store) => new Channel("v4", { store }));
    const streams = channels.map((channel) => {
      const stream = sendEvents(new Request("http://localhost/"), { keepAlive: false });
      void channel.register(stream.target);
      return stream;
    });
    await sleep(100);
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) {
      if (i === 50) await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]);
      ids.push((await channels[i % 2]!.broadcast(String(i))).id!);
    }
    await sleep(500);
    for (const { target } of streams) void target.close();
    for (const { response } of streams) {
      const events = parse(await response.text()).events;
      expect(events.map((event) => event.id)).toEqual(ids);
    }
    const resumed = await stores[1]!.read(ids[89]!);
    expect(resumed.events.map((event) => event.data)).toEqual(
      Array.from({ length: 10 }, (_, i) => String(90 + i)),
    );
    await Promise.all(stores.map((store) => store.close()));
  });
});
