/**
 * RedisEventStore in one process, on a real redis-server of the suite's own: the history window,
 * ids it must refuse, scripts lost by Redis, and what it holds open.
 */
import { createClient } from "redis";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { RedisEventStore } from "../adapters/redis.ts";
import { Channel, metrics, sendEvents } from "../src/index.ts";
import { type RedisServer, startRedis } from "./helpers/redis.ts";
import { parse } from "./helpers/stream.ts";

type Client = ReturnType<typeof createClient>;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("RedisEventStore", () => {
  let redis: RedisServer;
  let client: Client;
  let admin: Client;
  let keys = 0;
  const key = () => `store-${++keys}`;

  beforeAll(async () => {
    redis = await startRedis();
    client = createClient({ url: redis.url });
    admin = createClient({ url: redis.url });
    for (const c of [client, admin]) {
      c.on("error", () => {});
      await c.connect();
    }
  });

  afterAll(async () => {
    await client?.quit();
    await admin?.quit();
    await redis?.stop();
  });

  /** Saves the channel's keys now; the returned function puts them back (a replica behind). */
  async function snapshot(name: string): Promise<() => Promise<void>> {
    const keys = [`sendevents:{${name}}:meta`, `sendevents:{${name}}:stream`];
    const dumps = await Promise.all(
      keys.map((k) => admin.sendCommand(["DUMP", k], { typeMapping: { 36: Buffer } } as never)),
    );
    return async () => {
      for (let i = 0; i < keys.length; i++) {
        await admin.sendCommand(["RESTORE", keys[i]!, "0", dumps[i] as never, "REPLACE"]);
      }
    };
  }

  /** Registers a stream with `lastEventId` and returns what it was sent within `ms`. */
  async function resume(channel: Channel, lastEventId: string, ms = 200) {
    const { response, target } = sendEvents(new Request("http://localhost/"));
    await channel.register(target, { lastEventId });
    await sleep(ms);
    void target.close();
    return parse(await response.text()).events;
  }

  test("RedisEventStore throws TypeError and RangeError naming the bad value", () => {
    expect(() => new RedisEventStore({} as never, { key: "a" })).toThrow(TypeError);
    expect(() => new RedisEventStore(client, { key: "a{b}" })).toThrow(/"key".*"a\{b\}"/);
    expect(() => new RedisEventStore(client, { key: "" })).toThrow(TypeError);
    expect(() => new RedisEventStore(client, { key: "a", maxEvents: 0 })).toThrow(
      /"maxEvents" must be a positive integer, received 0/,
    );
    expect(() => new RedisEventStore(client, { key: "a", timeout: Infinity })).toThrow(RangeError);
    const store = new RedisEventStore(client, { key: "a" });
    expect(() => store.compare("x", "a:1")).toThrow(TypeError);
  });

  test("RedisEventStore refuses a timer longer than a timer can wait (it would fire after 1 ms)", async () => {
    // setTimeout takes a signed 32-bit delay: 1e12 ms would time every command out at once, and a
    // check interval of 1e12 ms would read the stream every millisecond.
    for (const name of ["timeout", "checkInterval"]) {
      expect(() => new RedisEventStore(client, { key: "a", [name]: 1e12 })).toThrow(
        new RegExp(`"${name}" must be an integer from 1 to 2147483647, received 1000000000000`),
      );
      expect(() => new RedisEventStore(client, { key: "a", [name]: 2 ** 31 })).toThrow(RangeError);
      expect(() => new RedisEventStore(client, { key: "a", [name]: 0 })).toThrow(RangeError);
    }
    // The longest delay itself is a timer's, and works.
    const store = new RedisEventStore(client, {
      key: key(),
      timeout: 2 ** 31 - 1,
      checkInterval: 2 ** 31 - 1,
    });
    const event = await store.append({ type: "message", data: "a" });
    expect(event.id).toMatch(/:1$/);
    const subscription = store.subscribe({ event() {}, stale() {} });
    expect(await subscription.ready).toBe(event.id);
    subscription.close();
    await store.close();
  });

  test("RedisEventStore takes a maxAge of whole milliseconds, or Infinity", async () => {
    for (const maxAge of [0, 1.5, -1, Number.NaN]) {
      expect(() => new RedisEventStore(client, { key: "a", maxAge })).toThrow(
        new RegExp(`"maxAge" must be a positive integer, or Infinity, received ${maxAge}`),
      );
    }
    const store = new RedisEventStore(client, { key: key(), maxAge: Infinity });
    await store.append({ type: "message", data: "kept" });
    expect(await store.trim()).toBe(0);
    expect((await store.read("")).events.map((event) => event.data)).toEqual(["kept"]);
    await store.close();
  });

  test("RedisEventStore ids are <epoch>:<seq>, contiguous, the epoch kept in Redis", async () => {
    const name = key();
    const one = new RedisEventStore(client, { key: name });
    const two = new RedisEventStore(client, { key: name });
    const a = await one.append({ type: "message", data: "a" });
    const b = await two.append({ type: "message", data: "b", retry: 50 });
    const [epoch, sequence] = a.id!.split(":");
    expect(b.id).toBe(`${epoch}:${Number(sequence) + 1}`);
    const read = await one.read(a.id!);
    expect(read.events.map((event) => [event.id, event.data, event.retry])).toEqual([
      [b.id, "b", 50],
    ]);
    expect(read.lastId).toBe(b.id);
    expect((await two.read("")).events.map((event) => event.data)).toEqual(["a", "b"]);
  });

  test("RedisEventStore: history trimmed past a client's id gives stale, inside the window exact", async () => {
    const name = key();
    const store = new RedisEventStore(client, { key: name, maxEvents: 10 });
    const channel = new Channel("trim", { store });
    const ids: string[] = [];
    for (let i = 1; i <= 300; i++) ids.push((await channel.broadcast(String(i))).id!);
    // MAXLEN ~ trims whole blocks (stream-node-max-entries, 100): at least the last 10 are kept.
    const [[oldestId]] = (await admin.sendCommand([
      "XRANGE",
      `sendevents:{${name}}:stream`,
      "-",
      "+",
      "COUNT",
      "1",
    ])) as [[string]];
    const oldest = Number(oldestId.split("-")[0]);
    expect(oldest).toBeGreaterThan(1);
    expect(oldest).toBeLessThanOrEqual(291);
    expect(await resume(channel, ids[4]!)).toEqual([
      expect.objectContaining({ event: "stale", id: ids[299], data: '{"reason":"expired"}' }),
    ]);
    // Resuming after the one before the oldest kept is exact; one further back is not.
    const exact = await resume(channel, ids[oldest - 2]!);
    expect(exact.map((event) => event.data)).toEqual(
      ids.slice(oldest - 1).map((_, i) => String(oldest + i)),
    );
    expect((await resume(channel, ids[oldest - 3]!))[0]).toMatchObject({ event: "stale" });
    expect((await resume(channel, ids[294]!)).map((event) => event.data)).toEqual([
      "296",
      "297",
      "298",
      "299",
      "300",
    ]);
    await store.close();
  });

  test("RedisEventStore: events older than maxAge are gone, and resuming across them is stale", async () => {
    const store = new RedisEventStore(client, { key: key(), maxAge: 150 });
    const first = await store.append({ type: "message", data: "old" });
    const second = await store.append({ type: "message", data: "old too" });
    await sleep(250);
    expect((await store.read(first.id!)).stale).toBe("expired");
    expect((await store.read(second.id!)).events).toEqual([]);
    const fresh = await store.append({ type: "message", data: "new" });
    expect((await store.read(second.id!)).events.map((event) => event.id)).toEqual([fresh.id]);
    expect(await store.trim()).toBeGreaterThanOrEqual(0);
  });

  test("RedisEventStore: a foreign, forged or ahead id is stale unknown", async () => {
    const name = key();
    const store = new RedisEventStore(client, { key: name });
    const other = new RedisEventStore(client, { key: key() });
    const event = await store.append({ type: "message", data: "x" });
    const foreign = await other.append({ type: "message", data: "y" });
    const [epoch, sequence] = event.id!.split(":");
    for (const id of [
      foreign.id!,
      `${epoch}:${Number(sequence) + 5}`,
      "forged",
      "a:b:c",
      `${epoch}:01`,
    ]) {
      expect(await store.read(id), id).toEqual({ events: [], stale: "unknown", lastId: event.id });
    }
  });

  test("RedisEventStore: lost keys start a new epoch; lost scripts are loaded again", async () => {
    const name = key();
    const store = new RedisEventStore(client, { key: name });
    const before = await store.append({ type: "message", data: "x" });
    await admin.sendCommand(["SCRIPT", "FLUSH"]);
    await admin.sendCommand(["DEL", `sendevents:{${name}}:meta`, `sendevents:{${name}}:stream`]);
    const after = await store.append({ type: "message", data: "y" });
    expect(after.id!.split(":")[0]).not.toBe(before.id!.split(":")[0]);
    expect(after.id!.endsWith(":1")).toBe(true);
    expect((await store.read(before.id!)).stale).toBe("unknown");
  });

  /**
   * One channel on two instances: a store of its own each, on two connections, sharing a key.
   * `sender` broadcasts on one, `receiver` registers on the other.
   */
  async function twoInstances() {
    const other = createClient({ url: redis.url });
    other.on("error", () => {});
    await other.connect();
    const name = key();
    const here = new RedisEventStore(client, { key: name });
    const there = new RedisEventStore(other, { key: name });
    return {
      sender: new Channel(name, { store: there }),
      receiver: new Channel(name, { store: here }),
      async close() {
        await Promise.all([here.close(), there.close()]);
        await other.quit();
      },
    };
  }

  test("RedisEventStore: a member without Last-Event-ID gets every broadcast made once register resolved", async () => {
    const { sender, receiver, close } = await twoInstances();
    const { response, target } = sendEvents(new Request("http://localhost/"));
    await receiver.register(target); // the first member: the feed subscribes now
    const sent = await sender.broadcast("right after");
    await sleep(100);
    void target.close();
    expect(parse(await response.text()).events).toEqual([
      expect.objectContaining({ id: sent.id, data: "right after" }),
    ]);
    await close();
  });

  test("RedisEventStore: register({ history }) on one instance sends the last n events of the shared store, then everything broadcast from the other, with no gap and no repeat", async () => {
    const { sender, receiver, close } = await twoInstances();
    const before: string[] = [];
    for (let i = 0; i < 10; i++) before.push((await sender.broadcast(`before ${i}`)).id!);
    const { response, target } = sendEvents(new Request("http://localhost/"));
    // Broadcasts from the other instance race the registration: each must arrive exactly once.
    const during = Promise.all(
      Array.from({ length: 40 }, (_, i) => sender.broadcast(`during ${i}`).then((e) => e.id!)),
    );
    await receiver.register(target, { history: 3 });
    const sentDuring = await during;
    const after = (await sender.broadcast("after")).id!;
    await sleep(150);
    void target.close();
    const ids = parse(await response.text()).events.map((event) => event.id);
    // The history is the last 3 events when the store was read (some of the racing broadcasts,
    // perhaps), and everything after them follows: the tail of the store's one order, whole.
    const all = [...before, ...sentDuring, after];
    expect(ids.length).toBeGreaterThanOrEqual(4);
    expect(ids.length).toBeLessThanOrEqual(all.length - 7);
    expect(ids).toEqual(all.slice(all.length - ids.length));
    await close();
  });

  test("RedisEventStore: a Redis that rewound (failover to a replica behind) moves the channel to a new epoch", async () => {
    const name = key();
    const store = new RedisEventStore(client, { key: name, checkInterval: 50 });
    const channel = new Channel(name, { store });
    const { response, target } = sendEvents(new Request("http://localhost/"));
    await channel.register(target);
    const sent: string[] = [];
    for (let i = 1; i <= 5; i++) sent.push((await channel.broadcast(String(i))).id!);
    const replica = await snapshot(name);
    for (let i = 6; i <= 10; i++) sent.push((await channel.broadcast(String(i))).id!);
    await sleep(100);
    // What a replica that missed the last 5 events holds after a failover.
    await replica();
    await sleep(200);
    const next = await channel.broadcast("after");
    const [epoch] = sent[0]!.split(":");
    expect(next.id!.startsWith(`${epoch}:`)).toBe(false);
    // Every old id, seen or not, now reads as stale: none is taken for a position in the new epoch.
    for (const id of [sent[2]!, sent[4]!, sent[9]!]) {
      expect((await store.read(id)).stale).toBe("unknown");
    }
    await sleep(50);
    void target.close();
    const events = parse(await response.text()).events;
    expect(events.slice(0, 10).map((event) => event.id)).toEqual(sent);
    expect(events[10]).toMatchObject({ event: "stale", data: '{"reason":"unknown"}' });
    expect(events[10]!.id!.startsWith(`${epoch}:`)).toBe(false);
    expect(events[11]).toMatchObject({ id: next.id, data: "after" });
    await store.close();
  });

  test("RedisEventStore: a rewound Redis that already issued the seen ids again is caught by their nonces", async () => {
    const name = key();
    const other = createClient({ url: redis.url });
    other.on("error", () => {});
    await other.connect();
    // No periodic check: only the live notifications can reveal the rewind.
    const store = new RedisEventStore(client, { key: name, checkInterval: 60_000 });
    const writer = new RedisEventStore(other, { key: name });
    const channel = new Channel(name, { store });
    const { response, target } = sendEvents(new Request("http://localhost/"));
    await channel.register(target);
    const sent: string[] = [];
    const old = (i: number) => writer.append({ type: "message", data: `old ${i}` });
    for (let i = 1; i <= 5; i++) sent.push((await old(i)).id!);
    const replica = await snapshot(name);
    for (let i = 6; i <= 10; i++) sent.push((await old(i)).id!);
    await sleep(100);
    await replica();
    // Other events under the ids 6 to 13: 6 to 10 were seen with other data.
    for (let i = 6; i <= 13; i++) await writer.append({ type: "message", data: `new ${i}` });
    await sleep(200);
    void target.close();
    const events = parse(await response.text()).events;
    expect(events.slice(0, 10).map((event) => event.data)).toEqual(
      sent.map((_, i) => `old ${i + 1}`),
    );
    // Never "new 11" as if it followed "old 10": stale, in a new epoch, then its events.
    expect(events[10]).toMatchObject({ event: "stale", data: '{"reason":"unknown"}' });
    const [epoch] = sent[0]!.split(":");
    const [newEpoch, position] = events[10]!.id!.split(":");
    expect(newEpoch).not.toBe(epoch);
    // What follows is the new epoch's, from the stale event's position on, with no gap.
    expect(events.slice(11).map((event) => event.id)).toEqual(
      events.slice(11).map((_, i) => `${newEpoch}:${Number(position) + 1 + i}`),
    );
    expect(events.at(-1)?.data).toBe("new 13");
    expect((await store.read(sent[7]!)).stale).toBe("unknown");
    await Promise.all([store.close(), writer.close()]);
    await other.quit();
  });

  test("RedisEventStore: a broadcast to 5,000 members over two instances is encoded once per instance", async () => {
    const other = createClient({ url: redis.url });
    other.on("error", () => {});
    await other.connect();
    const name = key();
    const stores = [
      new RedisEventStore(client, { key: name }),
      new RedisEventStore(other, { key: name }),
    ];
    const channels = stores.map((store) => new Channel(name, { store }));
    const members = Array.from({ length: 5000 }, () =>
      sendEvents(new Request("http://localhost/"), { keepAlive: false }),
    );
    await Promise.all(members.map(({ target }, i) => channels[i % 2]!.register(target)));
    const { encode, encodeInto } = TextEncoder.prototype;
    let encodes = 0;
    TextEncoder.prototype.encode = function (this: TextEncoder, input?: string) {
      encodes++;
      return encode.call(this, input);
    };
    TextEncoder.prototype.encodeInto = function (this: TextEncoder, input, into) {
      encodes++;
      return encodeInto.call(this, input, into);
    };
    const sentBefore = metrics.eventsSent;
    try {
      for (let i = 0; i < 3; i++)
        await channels[0]!.broadcast({ round: i, payload: "x".repeat(100) });
      for (let i = 0; i < 50 && metrics.eventsSent - sentBefore < 3 * 5000; i++) await sleep(20);
    } finally {
      Object.assign(TextEncoder.prototype, { encode, encodeInto });
    }
    expect(metrics.eventsSent - sentBefore).toBe(3 * 5000);
    expect(encodes).toBe(3 * 2);
    for (const { response } of members) await response.body!.cancel();
    expect(channels.map((channel) => channel.size)).toEqual([0, 0]);
    await Promise.all(stores.map((store) => store.close()));
    await other.quit();
  });

  test("RedisEventStore: a channel whose last member leaves and a new one joins at once keeps its feed", async () => {
    const other = createClient({ url: redis.url });
    other.on("error", () => {});
    await other.connect();
    const name = key();
    const store = new RedisEventStore(client, { key: name, checkInterval: 60_000 });
    const writer = new RedisEventStore(other, { key: name });
    const channel = new Channel(name, { store });
    for (let round = 0; round < 20; round++) {
      const left = sendEvents(new Request("http://localhost/"), { keepAlive: false });
      void channel.register(left.target);
      channel.unregister(left.target); // the feed closes: UNSUBSCRIBE
      const joined = sendEvents(new Request("http://localhost/"), { keepAlive: false });
      await channel.register(joined.target); // and opens again: SUBSCRIBE
      const before = joined.target.bufferedAmount; // the opening comment
      const sent = await writer.append({ type: "message", data: `round ${round}` });
      for (let i = 0; i < 50 && joined.target.bufferedAmount === before; i++) await sleep(5);
      void joined.target.close();
      expect(parse(await joined.response.text()).events.map((event) => event.id)).toEqual([
        sent.id,
      ]);
      await left.response.body!.cancel();
    }
    await Promise.all([store.close(), writer.close()]);
    await other.quit();
  });

  test("RedisEventStore keeps its keys of one channel in one hash tag", async () => {
    const name = key();
    const store = new RedisEventStore(client, { key: name, prefix: "app" });
    await store.append({ type: "message", data: "x" });
    const found = (await admin.sendCommand(["KEYS", `app:{${name}}:*`])) as string[];
    expect(found.sort()).toEqual([`app:{${name}}:meta`, `app:{${name}}:stream`]);
  });

  test("RedisEventStore: one subscriber connection per client, one subscription per channel while it has members", async () => {
    const own = createClient({ url: redis.url });
    own.on("error", () => {});
    await own.connect();
    await own.sendCommand(["CLIENT", "SETNAME", "own"]);
    const subscribers = async () =>
      String(await admin.sendCommand(["CLIENT", "LIST", "TYPE", "pubsub"]))
        .split("\n")
        .filter((line) => / sub=[1-9]/.test(line)).length;
    const before = await subscribers();
    const stores = [1, 2, 3].map((i) => new RedisEventStore(own, { key: `subs-${i}` }));
    const channels = stores.map((store, i) => new Channel(`subs-${i}`, { store }));
    const targets = channels.flatMap((channel) =>
      [1, 2].map(() => {
        const { target } = sendEvents(new Request("http://localhost/"));
        void channel.register(target, { lastEventId: "" });
        return target;
      }),
    );
    await sleep(200);
    expect(await subscribers()).toBe(before + 1);
    const live = (await admin.sendCommand([
      "PUBSUB",
      "CHANNELS",
      "sendevents:{subs-*",
    ])) as string[];
    expect(live.sort()).toEqual([1, 2, 3].map((i) => `sendevents:{subs-${i}}:live`));
    // The last member of channel 1 leaves: its subscription goes, the others stay.
    for (const target of targets.slice(0, 2)) channels[0]!.unregister(target);
    await sleep(100);
    expect(
      ((await admin.sendCommand(["PUBSUB", "CHANNELS", "sendevents:{subs-*"])) as string[]).sort(),
    ).toEqual([2, 3].map((i) => `sendevents:{subs-${i}}:live`));
    for (const target of targets) void target.close();
    await Promise.all(stores.map((store) => store.close()));
    await sleep(100);
    expect(await subscribers()).toBe(before);
    await own.quit();
  });

  test("RedisEventStore: broadcast rejects in bounded time when Redis is unreachable, and works once it is back", async () => {
    const server = await startRedis();
    try {
      const own = createClient({
        url: server.url,
        socket: { reconnectStrategy: () => 50 },
      });
      own.on("error", () => {});
      await own.connect();
      const store = new RedisEventStore(own, { key: "down", timeout: 500 });
      const channel = new Channel("down", { store });
      const { response, target } = sendEvents(new Request("http://localhost/"));
      await channel.register(target, { lastEventId: "" });
      await sleep(100); // the feed is subscribed
      await channel.broadcast("before");
      await server.kill();
      const started = performance.now();
      await expect(channel.broadcast("lost")).rejects.toThrow(/Cannot append to "down"/);
      expect(performance.now() - started).toBeLessThan(1500);
      expect(target.closed).toBe(false);
      await server.restart();
      await sleep(300);
      await channel.broadcast("after");
      await sleep(100);
      void target.close();
      const events = parse(await response.text()).events;
      expect(events.map((event) => event.event ?? "message")).toContain("stale");
      expect(events.at(-1)?.data).toBe("after");
      // The rejected broadcast was dropped from the client's queue, not sent once Redis was back.
      expect(events.map((event) => event.data)).not.toContain("lost");
      expect((await store.read("")).events.map((event) => event.data)).toEqual(["after"]);
      await store.close();
      await own.quit();
    } finally {
      await server.stop(); // even when an assertion failed: no redis-server left behind
    }
  });
});
