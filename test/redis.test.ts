/**
 * The Redis store across real processes: a redis-server of the suite's own, app instances in
 * their own Node processes (`test/redis/instance.js`), SSE clients over fetch. Needs
 * `npm run build` first (the instances import `dist/`).
 */
import { createClient } from "redis";
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("RedisEventStore across processes (node)", () => {
  let redis: RedisServer;
  let a: Instance;
  let b: Instance;
  const started: Instance[] = [];

  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([
      startInstance("node", redis.url, { NAME: "a" }),
      startInstance("node", redis.url, { NAME: "b" }),
    ]);
    started.push(a, b);
  });

  afterAll(async () => {
    await Promise.all(started.map((instance) => instance.kill()));
    await redis?.stop();
  });

  /** Publishes one event through `via` and returns its id: where new clients resume from. */
  async function mark(via: Instance, key: string): Promise<string> {
    const result = await via.publish(1, 0, key);
    expect(result.ok).toBe(1);
    return result.last!;
  }

  test("a broadcast through A reaches the clients of A and B, every event once, in order", async () => {
    const key = "one";
    const base = await mark(a, key);
    const clients = [new Subscriber(), new Subscriber(), new Subscriber(), new Subscriber()];
    await Promise.all(clients.map((client, i) => client.connect(i % 2 ? b.url : a.url, key, base)));
    const result = await a.publish(300, 0, key);
    expect(result).toMatchObject({ ok: 300, failed: 0 });
    const last = result.last!;
    await Promise.all(clients.map((client) => client.until(() => client.has(last))));
    for (const client of clients) {
      expect(checkContiguous(client.events, sequenceOf(base) + 1, sequenceOf(last))).toBe("");
    }
    await Promise.all(clients.map((client) => client.close()));
  });

  test("a client that drops on A resumes on B with exactly the events it missed", async () => {
    const key = "two";
    const base = await mark(a, key);
    const client = new Subscriber();
    await client.connect(a.url, key, base);
    const first = await a.publish(50, 0, key);
    await client.until(() => client.has(first.last!));
    await client.close();
    const missed = await b.publish(50, 0, key);
    await client.connect(b.url, key);
    const more = await a.publish(10, 0, key);
    await client.until(() => client.has(more.last!));
    expect(checkContiguous(client.events, sequenceOf(base) + 1, sequenceOf(more.last!))).toBe("");
    expect(sequenceOf(missed.last!)).toBe(sequenceOf(base) + 100);
    await client.close();
  });

  test("clients of an instance killed with SIGKILL mid-stream resume on B with no loss and no repeat", async () => {
    const key = "three";
    const victim = await startInstance("node", redis.url, { NAME: "victim" });
    started.push(victim);
    const base = await mark(b, key);
    const onVictim = Array.from({ length: 10 }, () => new Subscriber());
    const onB = Array.from({ length: 5 }, () => new Subscriber());
    await Promise.all([
      ...onVictim.map((client) => client.connect(victim.url, key, base)),
      ...onB.map((client) => client.connect(b.url, key, base)),
    ]);
    // 3,000 events at 3,000/s through B; the victim dies a third of the way in.
    const publishing = b.publish(3000, 3000, key);
    await onVictim[0]!.until(() => onVictim[0]!.events.length >= 600);
    await victim.kill("SIGKILL");
    await Promise.all(onVictim.map((client) => client.ended));
    const cut = onVictim.map((client) => client.events.length);
    await Promise.all(onVictim.map((client) => client.connect(b.url, key)));
    const result = await publishing;
    expect(result).toMatchObject({ ok: 3000, failed: 0 });
    const all = [...onVictim, ...onB];
    await Promise.all(all.map((client) => client.until(() => client.has(result.last!))));
    for (const client of all) {
      expect(checkContiguous(client.events, sequenceOf(base) + 1, sequenceOf(result.last!))).toBe(
        "",
      );
    }
    // The kill really happened mid-stream.
    expect(Math.min(...cut)).toBeGreaterThan(0);
    expect(Math.max(...cut)).toBeLessThan(3000);
    await Promise.all(all.map((client) => client.close()));
  });

  test("CLIENT KILL TYPE pubsub while broadcasting: every instance catches up with no gap", async () => {
    const key = "seven";
    const base = await mark(a, key);
    const clients = Array.from({ length: 6 }, () => new Subscriber());
    await Promise.all(clients.map((client, i) => client.connect(i % 2 ? b.url : a.url, key, base)));
    const admin = createClient({ url: redis.url });
    admin.on("error", () => {});
    await admin.connect();
    const publishing = a.publish(2000, 2000, key);
    for (const delay of [250, 300, 300]) {
      await sleep(delay);
      const killed = await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]);
      expect(Number(killed)).toBeGreaterThanOrEqual(1);
    }
    const result = await publishing;
    expect(result).toMatchObject({ ok: 2000, failed: 0 });
    await Promise.all(clients.map((client) => client.until(() => client.has(result.last!))));
    for (const client of clients) {
      expect(checkContiguous(client.events, sequenceOf(base) + 1, sequenceOf(result.last!))).toBe(
        "",
      );
    }
    await admin.quit();
    await Promise.all(clients.map((client) => client.close()));
  });
});

describe("RedisEventStore when redis-server dies (node)", () => {
  let redis: RedisServer;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    redis = await startRedis();
    [a, b] = await Promise.all([
      startInstance("node", redis.url, { NAME: "a", STORE_TIMEOUT: "1000" }),
      startInstance("node", redis.url, { NAME: "b", STORE_TIMEOUT: "1000" }),
    ]);
  });

  afterAll(async () => {
    await Promise.all([a?.kill(), b?.kill()]);
    await redis?.stop();
  });

  test("kill -9 and restart: broadcasts reject in bounded time, streams stay open, clients get stale with the new epoch", async () => {
    const key = "five";
    const first = await a.publish(20, 0, key);
    const epoch = first.last!.slice(0, first.last!.lastIndexOf(":"));
    const clients = [new Subscriber(), new Subscriber()];
    await clients[0]!.connect(a.url, key, first.first!);
    await clients[1]!.connect(b.url, key, first.first!);
    await Promise.all(clients.map((client) => client.until(() => client.has(first.last!))));

    await redis.kill();
    const started = performance.now();
    const failed = await a.publish(1, 0, key);
    const elapsed = performance.now() - started;
    expect(failed.failed).toBe(1);
    expect(failed.error).toMatch(/Redis|Cannot append/);
    expect(elapsed).toBeLessThan(3000);
    // The open streams are still open.
    let ended = 0;
    for (const client of clients) void client.ended.then(() => ended++);
    await sleep(300);
    expect(ended).toBe(0);

    await redis.restart();
    // Each instance's feed finds the new epoch and tells its members, without a new broadcast.
    await Promise.all(
      clients.map((client) =>
        client.until(() => client.events.some((e) => e.type === "stale"), 15_000),
      ),
    );
    for (const client of clients) {
      const stale = client.events.find((event) => event.type === "stale")!;
      expect(JSON.parse(stale.data)).toEqual({ reason: "unknown" });
      expect(stale.id.startsWith(`${epoch}:`)).toBe(false);
    }
    // The stores recover without a restart of the app (scripts loaded again after NOSCRIPT),
    // once the command connection is back (node-redis reconnects it on its own schedule).
    for (let i = 0; i < 50 && (await b.publish(1, 0, "probe")).ok !== 1; i++) await sleep(100);
    const after = await b.publish(10, 0, key);
    expect(after).toMatchObject({ ok: 10, failed: 0 });
    expect(after.last!.startsWith(`${epoch}:`)).toBe(false);
    await Promise.all(clients.map((client) => client.until(() => client.has(after.last!))));
    for (const client of clients) {
      const stale = client.events.findIndex((event) => event.type === "stale");
      const since = client.events.slice(stale + 1);
      expect(checkContiguous(since, sequenceOf(after.first!), sequenceOf(after.last!))).toBe("");
      // Nothing of the old epoch was lost silently: it had everything up to the crash.
      expect(checkContiguous(client.events.slice(0, stale), 2, 20)).toBe("");
    }
    // A client resuming with an id of the old epoch is told it is stale.
    const late = new Subscriber();
    await late.connect(a.url, key, first.last!);
    await late.until(() => late.events.length > 0);
    expect(late.events[0]).toMatchObject({ type: "stale", data: '{"reason":"unknown"}' });
    await Promise.all([...clients, late].map((client) => client.close()));
  });
});

describe("RedisEventStore on a persistent redis-server (node)", () => {
  test("kill -9 and restart with appendfsync always: clients resume with nothing lost and no stale", async () => {
    const redis = await startRedis({ persistence: true });
    const a = await startInstance("node", redis.url, { NAME: "a", STORE_TIMEOUT: "1000" });
    try {
      const key = "durable";
      const first = await a.publish(50, 0, key);
      const client = new Subscriber();
      await client.connect(a.url, key, first.first!);
      await client.until(() => client.has(first.last!));
      await redis.kill();
      await redis.restart();
      const after = await a.publish(10, 0, key);
      expect(after).toMatchObject({ ok: 10, failed: 0 });
      await client.until(() => client.has(after.last!));
      expect(client.events.some((event) => event.type === "stale")).toBe(false);
      expect(checkContiguous(client.events, 2, sequenceOf(after.last!))).toBe("");
      // A client that was away across the restart resumes exactly too.
      const away = new Subscriber();
      await away.connect(a.url, key, first.last!);
      await away.until(() => away.has(after.last!));
      expect(checkContiguous(away.events, 51, 60)).toBe("");
      await Promise.all([client.close(), away.close()]);
    } finally {
      await a.kill();
      await redis.stop();
    }
  });
});
