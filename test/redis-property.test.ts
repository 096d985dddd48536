/**
 * Property: however clients hop between instances while a publisher runs flat out, each of them
 * ends with every event exactly once, in order (so the union over all clients is exact too).
 * Real processes: a redis-server and three Node instances. Needs `npm run build`.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  checkContiguous,
  type Instance,
  type RedisServer,
  Subscriber,
  sequenceOf,
  startInstance,
  startRedis,
} from "./helpers/redis.ts";

const CLIENTS = 50;
const EVENTS = 2000;

describe("RedisEventStore property (node)", () => {
  let redis: RedisServer;
  let instances: Instance[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    instances = await Promise.all(
      ["a", "b", "c"].map((name) => startInstance("node", redis.url, { NAME: name })),
    );
  });

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.kill()));
    await redis?.stop();
  });

  test("50 clients resuming on random instances while a publisher runs flat out get every event once, in order", async () => {
    let run = 0;
    // Each client: the instance it starts on, then hops (after so many events, to which instance).
    const hop = fc.record({
      after: fc.integer({ min: 1, max: 400 }),
      to: fc.integer({ min: 0, max: 2 }),
    });
    const plan = fc.array(
      fc.record({ start: fc.integer({ min: 0, max: 2 }), hops: fc.array(hop, { maxLength: 4 }) }),
      { minLength: CLIENTS, maxLength: CLIENTS },
    );
    await fc.assert(
      fc.asyncProperty(plan, fc.integer({ min: 0, max: 2 }), async (clients, via) => {
        const key = `property-${++run}`;
        const mark = await instances[via]!.publish(1, 0, key);
        const base = mark.last!;
        const subscribers = clients.map(() => new Subscriber());
        await Promise.all(
          subscribers.map((subscriber, i) =>
            subscriber.connect(instances[clients[i]!.start]!.url, key, base),
          ),
        );
        const publishing = instances[via]!.publish(EVENTS, 0, key);
        const hopping = subscribers.map(async (subscriber, i) => {
          let received = 0;
          for (const { after, to } of clients[i]!.hops) {
            received += after;
            const target = Math.min(received, EVENTS);
            await subscriber.until(() => subscriber.events.length >= target, 20_000);
            await subscriber.close();
            await subscriber.connect(instances[to]!.url, key);
          }
        });
        const result = await publishing;
        expect(result).toMatchObject({ ok: EVENTS, failed: 0 });
        await Promise.all(hopping);
        await Promise.all(
          subscribers.map((subscriber) =>
            subscriber.until(() => subscriber.has(result.last!), 20_000),
          ),
        );
        for (const subscriber of subscribers) {
          expect(
            checkContiguous(subscriber.events, sequenceOf(base) + 1, sequenceOf(result.last!)),
          ).toBe("");
        }
        await Promise.all(subscribers.map((subscriber) => subscriber.close()));
      }),
      { numRuns: 3 },
    );
  }, 120_000);
});
