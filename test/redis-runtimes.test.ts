/**
 * The Redis suite's core cases with the instances on Deno, Bun and Node 18 (node-redis on each), and
 * one channel shared by a Node, a Deno and a Bun instance. Needs `npm run build`.
 */
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  checkContiguous,
  type Instance,
  type InstanceRuntime,
  type RedisServer,
  Subscriber,
  sequenceOf,
  startInstance,
  startRedis,
} from "./helpers/redis.ts";

let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  await redis?.stop();
});

for (const runtime of ["deno", "bun", "node18"] as const satisfies InstanceRuntime[]) {
  describe(`RedisEventStore across processes (${runtime})`, () => {
    let a: Instance;
    let b: Instance;

    beforeAll(async () => {
      [a, b] = await Promise.all([
        startInstance(runtime, redis.url, { NAME: "a" }),
        startInstance(runtime, redis.url, { NAME: "b" }),
      ]);
    });

    afterAll(async () => {
      await Promise.all([a?.kill(), b?.kill()]);
    });

    test(`${runtime}: a broadcast through A reaches the clients of A and B, every event once, in order`, async () => {
      const key = `${runtime}-one`;
      const base = (await a.publish(1, 0, key)).last!;
      const clients = [new Subscriber(), new Subscriber()];
      await clients[0]!.connect(a.url, key, base);
      await clients[1]!.connect(b.url, key, base);
      const result = await a.publish(500, 0, key);
      expect(result).toMatchObject({ ok: 500, failed: 0 });
      await Promise.all(clients.map((client) => client.until(() => client.has(result.last!))));
      for (const client of clients) {
        expect(checkContiguous(client.events, sequenceOf(base) + 1, sequenceOf(result.last!))).toBe(
          "",
        );
      }
      await Promise.all(clients.map((client) => client.close()));
    });

    test(`${runtime}: CLIENT KILL TYPE pubsub while broadcasting: both instances catch up with no gap`, async () => {
      const key = `${runtime}-seven`;
      const base = (await a.publish(1, 0, key)).last!;
      const clients = [new Subscriber(), new Subscriber()];
      await clients[0]!.connect(a.url, key, base);
      await clients[1]!.connect(b.url, key, base);
      const admin = createClient({ url: redis.url });
      admin.on("error", () => {});
      await admin.connect();
      const publishing = a.publish(1000, 2000, key);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(
        Number(await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"])),
      ).toBeGreaterThanOrEqual(2);
      const result = await publishing;
      expect(result).toMatchObject({ ok: 1000, failed: 0 });
      await Promise.all(clients.map((client) => client.until(() => client.has(result.last!))));
      for (const client of clients) {
        expect(checkContiguous(client.events, sequenceOf(base) + 1, sequenceOf(result.last!))).toBe(
          "",
        );
      }
      await admin.quit();
      await Promise.all(clients.map((client) => client.close()));
    });

    test(`${runtime}: a client killed with its instance resumes on B with exactly what it missed`, async () => {
      const key = `${runtime}-two`;
      const victim = await startInstance(runtime, redis.url, { NAME: "victim" });
      try {
        const base = (await b.publish(1, 0, key)).last!;
        const client = new Subscriber();
        await client.connect(victim.url, key, base);
        const publishing = b.publish(1500, 2000, key);
        await client.until(() => client.events.length >= 300);
        await victim.kill("SIGKILL");
        await client.ended;
        await client.connect(b.url, key);
        const result = await publishing;
        await client.until(() => client.has(result.last!));
        expect(checkContiguous(client.events, sequenceOf(base) + 1, sequenceOf(result.last!))).toBe(
          "",
        );
        await client.close();
      } finally {
        await victim.kill(); // already gone unless a step above failed
      }
    });
  });
}

describe("RedisEventStore across runtimes", () => {
  test("one channel on a Node, a Deno and a Bun instance delivers one order to all", async () => {
    const instances = await Promise.all(
      (["node", "deno", "bun"] as const).map((runtime) => startInstance(runtime, redis.url)),
    );
    try {
      const key = "mixed";
      const base = (await instances[0]!.publish(1, 0, key)).last!;
      const clients = instances.map(() => new Subscriber());
      await Promise.all(clients.map((client, i) => client.connect(instances[i]!.url, key, base)));
      const results = await Promise.all(instances.map((instance) => instance.publish(200, 0, key)));
      const last = Math.max(...results.map((result) => sequenceOf(result.last!)));
      await Promise.all(clients.map((client) => client.until(() => client.events.length >= 600)));
      for (const client of clients) {
        expect(checkContiguous(client.events, sequenceOf(base) + 1, last)).toBe("");
      }
      // One order: every client got the same data in the same order.
      const orders = clients.map((client) => client.events.map((event) => event.data).join(","));
      expect(new Set(orders).size).toBe(1);
      await Promise.all(clients.map((client) => client.close()));
    } finally {
      await Promise.all(instances.map((instance) => instance.kill()));
    }
  });
});
