import { getEventListeners } from "node:events";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  Channel,
  type EventRecord,
  type EventStore,
  type EventStoreReadOptions,
  type EventStoreReadResult,
  MemoryEventStore,
  metrics,
  ServerSentEvent,
  type ServerSentEventTarget,
  sendEvents,
} from "../src/index.ts";
import { parse } from "./helpers/stream.ts";

interface Client {
  target: ServerSentEventTarget;
  /** Reads what the stream has sent so far (waits a few turns for queued bytes). */
  events(): Promise<{ id: string | undefined; event: string | undefined; data: string }[]>;
  /** The client leaves: cancels the body, which ends the stream with reason "client". */
  leave(): Promise<void>;
  /** Reads until `count` events have arrived. */
  until(
    count: number,
  ): Promise<{ id: string | undefined; event: string | undefined; data: string }[]>;
}

const decoder = new TextDecoder();

function turns(count: number): Promise<void> {
  let promise = Promise.resolve();
  for (let i = 0; i < count; i++) promise = promise.then(() => undefined);
  return promise;
}

/**
 * An EventStore with the latency of an external one, over a MemoryEventStore: `append` assigns
 * its id at once (in call order, as one pipelined connection does) but answers a few turns later;
 * `read` runs a few turns after the call and answers a few turns after that, so appends called
 * after it may land first.
 */
class LatentStore implements EventStore {
  #next = 0;
  constructor(
    readonly inner: MemoryEventStore,
    readonly latencies: readonly number[],
  ) {}
  #latency(): number {
    return this.latencies[this.#next++ % this.latencies.length]!;
  }
  async append(record: EventRecord): Promise<ServerSentEvent> {
    const event = this.inner.append(record);
    await turns(this.#latency());
    return event;
  }
  async read(afterId: string, options?: EventStoreReadOptions): Promise<EventStoreReadResult> {
    await turns(this.#latency());
    const result = this.inner.read(afterId, options);
    await turns(this.#latency());
    return result;
  }
  trim(): Promise<number> {
    return this.inner.trim();
  }
  compare(a: string, b: string): number {
    return this.inner.compare(a, b);
  }
}

function client(lastEventId?: string): Client {
  const headers: Record<string, string> = {};
  if (lastEventId !== undefined) headers["last-event-id"] = lastEventId;
  const { response, target } = sendEvents(new Request("http://localhost/", { headers }), {
    keepAlive: false,
  });
  const reader = response.body!.getReader();
  let text = "";
  const parsed = () => parse(text).events.map(({ id, event, data }) => ({ id, event, data }));
  /** A read that lost a race against the idle timer stays pending: the next read takes it. */
  let pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  const read = () => {
    pending ??= reader.read().then((result) => {
      pending = undefined;
      if (result.value) text += decoder.decode(result.value, { stream: true });
      return result;
    });
    return pending;
  };
  return {
    target,
    leave: () => reader.cancel(),
    async events() {
      // Reads until nothing has arrived for 20 ms.
      for (;;) {
        const result = await Promise.race([
          read(),
          new Promise<"idle">((resolve) => setTimeout(() => resolve("idle"), 20)),
        ]);
        if (result === "idle" || result.done) return parsed();
      }
    },
    async until(count) {
      for (;;) {
        const { done } = await read();
        const events = parsed();
        if (events.length >= count || done) return events;
      }
    },
  };
}

const data = (events: { data: string }[]) => events.map((event) => event.data);

describe("Channel", () => {
  test("Channel broadcasts to every member, with the store's ids, and counts its members", async () => {
    const channel = new Channel("room", { store: new MemoryEventStore({ epoch: "r" }) });
    const a = client();
    const b = client();
    await channel.register(a.target);
    await channel.register(b.target);
    await channel.register(b.target); // twice is once
    expect(channel.size).toBe(2);
    expect(channel.has(a.target)).toBe(true);
    const sent = await channel.broadcast({ text: "hi" }, { type: "chat" });
    expect(sent.id).toBe("r:1");
    await channel.broadcast("plain");
    await channel.broadcast(new ServerSentEvent("note", "as an event"));
    for (const member of [a, b]) {
      expect(await member.until(3)).toEqual([
        { id: "r:1", event: "chat", data: '{"text":"hi"}' },
        { id: "r:2", event: undefined, data: "plain" },
        { id: "r:3", event: "note", data: "as an event" },
      ]);
    }
    await a.leave();
    await b.leave();
  });

  test("Channel removes a member when its stream ends, without a close listener of its own", async () => {
    const channel = new Channel("room");
    const a = client();
    const b = client();
    const listeners = (target: EventTarget) => getEventListeners(target, "close").length;
    await channel.register(a.target);
    await channel.register(b.target);
    expect([listeners(a.target), listeners(b.target)]).toEqual([0, 0]);
    await a.leave();
    expect(channel.size).toBe(1);
    expect(channel.has(a.target)).toBe(false);
    expect(listeners(a.target)).toBe(0);
    // unregister lets go of it: closing afterwards does not touch the channel.
    expect(channel.unregister(b.target)).toBe(true);
    expect(listeners(b.target)).toBe(0);
    expect(channel.unregister(b.target)).toBe(false);
    expect(channel.size).toBe(0);
    await channel.broadcast("nobody hears this");
    expect(await b.events()).toEqual([]);
    await b.leave();
    // Registering a closed stream does nothing.
    await channel.register(a.target);
    expect(channel.size).toBe(0);
  });

  test("Channel sends events to members in the order broadcast was called", async () => {
    const channel = new Channel("order");
    const a = client();
    await channel.register(a.target);
    const sends = Array.from({ length: 100 }, (_, i) => channel.broadcast(`${i}`));
    await Promise.all(sends);
    expect(data(await a.until(100))).toEqual(Array.from({ length: 100 }, (_, i) => `${i}`));
    await a.leave();
  });

  test("Channel applies each member's filter with its state, to live and replayed events", async () => {
    const store = new MemoryEventStore({ epoch: "f" });
    const channel = new Channel("news", { store });
    const sport = client();
    await channel.register(sport.target, {
      state: "sport",
      filter: (event, topic) => event.type === topic,
    });
    await channel.broadcast("goal", { type: "sport" });
    await channel.broadcast("vote", { type: "politics" });
    await channel.broadcast("match", { type: "sport" });
    expect(data(await sport.until(2))).toEqual(["goal", "match"]);
    const late = client("f:1");
    await channel.register(late.target, { state: "politics", filter: (e, t) => e.type === t });
    expect(data(await late.events())).toEqual(["vote"]);
    await sport.leave();
    await late.leave();
  });

  test("Channel ends only the member whose filter throws, with reason error", async () => {
    const channel = new Channel("filters");
    const broken = client();
    const fine = client();
    const reasons: unknown[] = [];
    broken.target.addEventListener("close", (event) => reasons.push(event.reason, event.error));
    const failure = new Error("bad filter");
    await channel.register(broken.target, {
      filter: () => {
        throw failure;
      },
    });
    await channel.register(fine.target);
    await channel.broadcast("one");
    await channel.broadcast("two");
    expect(reasons).toEqual(["error", failure]);
    expect(channel.size).toBe(1);
    expect(data(await fine.until(2))).toEqual(["one", "two"]);
    await fine.leave();
  });

  test("Channel closes a member with overflow when over 1 MiB arrives while its replay waits", async () => {
    const memory = new MemoryEventStore({ epoch: "g", maxBytes: 4 * 1024 * 1024 });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const store: EventStore = {
      append: (record) => memory.append(record),
      read: async (afterId, options) => {
        await gate; // a store that answers slowly
        return memory.read(afterId, options);
      },
      trim: () => memory.trim(),
      compare: (a, b) => memory.compare(a, b),
    };
    const channel = new Channel("gated", { store });
    await channel.broadcast("first");
    const back = client("g:1");
    const reasons: string[] = [];
    back.target.addEventListener("close", (event) => reasons.push(event.reason));
    const registered = channel.register(back.target);
    for (let i = 0; i < 1100; i++) await channel.broadcast("z".repeat(1000));
    expect(reasons).toEqual(["overflow"]);
    expect(channel.size).toBe(0);
    open();
    await registered;
  });

  test("Channel ends a resuming stream with reason error when its store fails to read", async () => {
    const memory = new MemoryEventStore({ epoch: "b" });
    const failure = new Error("store is down");
    const store: EventStore = {
      append: (record) => memory.append(record),
      read: () => Promise.reject(failure),
      trim: () => memory.trim(),
      compare: (a, b) => memory.compare(a, b),
    };
    const channel = new Channel("broken", { store });
    await channel.broadcast("x");
    const back = client("b:1");
    const closes: unknown[] = [];
    back.target.addEventListener("close", (event) => closes.push(event.reason, event.error));
    await expect(channel.register(back.target)).resolves.toBeUndefined();
    expect(closes).toEqual(["error", failure]);
    expect(channel.size).toBe(0);
  });

  test("Channel replays what a client missed after its Last-Event-ID, then goes live", async () => {
    const channel = new Channel("room", { store: new MemoryEventStore({ epoch: "r" }) });
    for (let i = 1; i <= 5; i++) await channel.broadcast(`${i}`);
    const back = client("r:2");
    await channel.register(back.target);
    await channel.broadcast("6");
    const events = await back.until(4);
    expect(events.map((event) => [event.id, event.data])).toEqual([
      ["r:3", "3"],
      ["r:4", "4"],
      ["r:5", "5"],
      ["r:6", "6"],
    ]);
    // An explicit lastEventId (from a query parameter, say) wins over the header.
    const explicit = client("r:2");
    await channel.register(explicit.target, { lastEventId: "r:5" });
    expect(data(await explicit.events())).toEqual(["6"]);
    const fresh = client("r:2");
    await channel.register(fresh.target, { lastEventId: "" });
    expect(await fresh.events()).toEqual([]);
    for (const c of [back, explicit, fresh]) await c.leave();
  });

  test("Channel replays a long history page by page while broadcasts keep coming", async () => {
    const channel = new Channel("long", {
      store: new MemoryEventStore({ epoch: "l", maxEvents: 5000 }),
    });
    for (let n = 1; n <= 1500; n++) void channel.broadcast(`${n}`);
    const back = client("l:1");
    const registered = channel.register(back.target);
    const sends: Promise<unknown>[] = [];
    for (let n = 1501; n <= 2000; n++) {
      sends.push(channel.broadcast(`${n}`));
      if (n % 50 === 0) await new Promise((resolve) => setTimeout(resolve, 0));
    }
    await Promise.all(sends);
    await registered;
    const numbers = data(await back.until(1999)).map(Number);
    expect(numbers).toEqual(Array.from({ length: 1999 }, (_, i) => i + 2));
    await back.leave();
  });

  test("Channel sends a stale event when the id is older than the store holds", async () => {
    const channel = new Channel("room", {
      store: new MemoryEventStore({ epoch: "r", maxEvents: 2 }),
    });
    for (let i = 1; i <= 5; i++) await channel.broadcast(`${i}`);
    const back = client("r:1");
    await channel.register(back.target);
    await channel.broadcast("6");
    expect(await back.until(2)).toEqual([
      { id: "r:5", event: "stale", data: '{"reason":"expired"}' },
      { id: "r:6", event: undefined, data: "6" },
    ]);
    await back.leave();
  });

  test("Channel sends a stale event for an id of another epoch (a restart), with a custom type", async () => {
    const before = new Channel("room");
    const old = await before.broadcast("from before the restart");
    const store = new MemoryEventStore({ epoch: "new" });
    const after = new Channel("room", { store, staleEventType: "resync" });
    const back = client(old.id);
    await after.register(back.target);
    // Nothing was broadcast since the restart: the stale event moves the client to the start of
    // the new epoch, so if it drops again before the next event, it still misses nothing.
    expect(await back.until(1)).toEqual([
      { id: "new:0", event: "resync", data: '{"reason":"unknown"}' },
    ]);
    await back.leave();
    await after.broadcast("first of the new epoch");
    const again = client("new:0");
    await after.register(again.target);
    expect(data(await again.until(1))).toEqual(["first of the new epoch"]);
    await again.leave();
  });

  test("Channel replays only its own store: a forged Last-Event-ID cannot read another channel", async () => {
    const secret = new Channel("secret", { store: new MemoryEventStore({ epoch: "shared" }) });
    const lobby = new Channel("lobby", { store: new MemoryEventStore({ epoch: "lobby" }) });
    for (let i = 1; i <= 3; i++) await secret.broadcast(`secret ${i}`);
    await lobby.broadcast("lobby 1");
    const forgeries = [
      "shared:0",
      "shared:1",
      "lobby:0",
      `${(secret.store as MemoryEventStore).epoch}:1`,
    ];
    for (const forged of forgeries) {
      const intruder = client(forged);
      await lobby.register(intruder.target);
      const seen = await intruder.events();
      expect(
        seen.some((event) => event.data.startsWith("secret")),
        forged,
      ).toBe(false);
      await intruder.leave();
    }
    // Even two channels sharing an epoch name keep apart: replay reads the channel's own store.
    const twin = new Channel("twin", { store: new MemoryEventStore({ epoch: "shared" }) });
    await twin.broadcast("twin 1");
    const intruder = client("shared:0");
    await twin.register(intruder.target);
    expect(data(await intruder.events())).toEqual(["twin 1"]);
    await intruder.leave();
  });

  test("Channel loses nothing and repeats nothing when a client resumes while broadcasts run (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ gap: fc.nat(3), awaited: fc.boolean() }), { maxLength: 50 }),
        fc.nat(50),
        fc.nat(50),
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.nat(4), { minLength: 1, maxLength: 8 }),
        async (broadcasts, registerAt, resumeAfter, maxEvents, latencies) => {
          const memory = new MemoryEventStore({ epoch: "p", maxEvents });
          const channel = new Channel("p", { store: new LatentStore(memory, latencies) });
          const at = Math.min(registerAt, broadcasts.length);
          const from = Math.min(resumeAfter, at); // resume after event number `from` (p:0: from the start)
          const back = client(`p:${from}`);
          const sends: Promise<unknown>[] = [];
          let registered: Promise<void> | undefined;
          for (let n = 0; n <= broadcasts.length; n++) {
            if (n === at) registered = channel.register(back.target);
            const op = broadcasts[n];
            if (op === undefined) break;
            await turns(op.gap);
            const sent = channel.broadcast(`${n}`);
            sends.push(sent);
            if (op.awaited) await sent;
          }
          await Promise.all(sends);
          await registered;
          const total = broadcasts.length;
          const events = await back.events();
          const stale = events[0]?.event === "stale" ? events[0] : undefined;
          const numbers = (stale ? events.slice(1) : events).map((event) => Number(event.data));
          // Strictly consecutive: no gap, no duplicate, in order, up to the last one.
          for (let i = 1; i < numbers.length; i++) expect(numbers[i]).toBe(numbers[i - 1]! + 1);
          if (numbers.length > 0) expect(numbers.at(-1)).toBe(total - 1);
          if (stale === undefined) {
            expect(numbers[0] ?? total).toBe(from);
          } else {
            // Stale only when events after the id had been dropped; live from the stale id on.
            const newest = Number(stale.id!.slice(2));
            expect(from).toBeLessThan(newest - maxEvents);
            expect(numbers[0] ?? total).toBe(newest);
          }
          await back.leave();
        },
      ),
      { numRuns: 120 },
    );
  });

  test("Channel encodes a broadcast to 5,000 members once, and every member gets it", async () => {
    const channel = new Channel("crowd");
    const members = Array.from({ length: 5000 }, () =>
      sendEvents(new Request("http://localhost/"), { keepAlive: false }),
    );
    for (const { target } of members) await channel.register(target);
    expect(channel.size).toBe(5000);
    // Count every UTF-8 encoding the process does while broadcasting (the real encoder still
    // runs: this only counts the calls).
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
      for (let i = 0; i < 3; i++) await channel.broadcast({ round: i, payload: "x".repeat(100) });
    } finally {
      Object.assign(TextEncoder.prototype, { encode, encodeInto });
    }
    expect(encodes).toBe(3);
    expect(metrics.eventsSent - sentBefore).toBe(3 * 5000);
    const queued = members.map(({ target }) => target.bufferedAmount);
    expect(new Set(queued).size).toBe(1);
    for (const { response } of members) await response.body!.cancel();
    expect(channel.size).toBe(0);
  });

  test("Channel closes a too-slow member with overflow without holding back the others", async () => {
    const channel = new Channel("mixed");
    const slow = sendEvents(new Request("http://localhost/"), {
      keepAlive: false,
      highWaterMark: 100,
      maxBufferedAmount: 1000,
    });
    const fast = client();
    const reasons: string[] = [];
    slow.target.addEventListener("close", (event) => reasons.push(event.reason));
    await channel.register(slow.target);
    await channel.register(fast.target);
    for (let i = 0; i < 50; i++) await channel.broadcast({ i, pad: "y".repeat(50) });
    expect(reasons).toEqual(["overflow"]);
    expect(channel.size).toBe(1);
    expect(data(await fast.until(50))).toHaveLength(50);
    await fast.leave();
  });

  test("Channel validates its arguments, naming the value", async () => {
    expect(() => new Channel("")).toThrow(
      new TypeError('Cannot create channel: the name must be a non-empty string, received ""'),
    );
    expect(() => new Channel("x", { store: {} as never })).toThrow(/"store" must be an EventStore/);
    expect(() => new Channel("x", { staleEventType: "a\nb" })).toThrow(TypeError);
    const channel = new Channel("x");
    expect(() => channel.register({} as never)).toThrow(/expected a ServerSentEventTarget/);
    const { target, response } = sendEvents(new Request("http://localhost/"));
    expect(() => channel.register(target, { filter: 1 as never })).toThrow(/"filter"/);
    expect(() => channel.broadcast(undefined)).toThrow(TypeError);
    expect(() => channel.broadcast("x", { type: "" })).toThrow(TypeError);
    expect(() => channel.broadcast("x", { retry: -1 })).toThrow(RangeError);
    expect(() => channel.broadcast(new ServerSentEvent("a", "b", { id: 1 }))).toThrow(
      /the store assigns ids.*received id "1"/,
    );
    expect(channel.size).toBe(0);
    await response.body!.cancel();
  });
});

/** A store whose next calls misbehave as told: throw, reject, hang, answer late or answer garbage. */
class FaultyStore implements EventStore {
  readonly inner = new MemoryEventStore({ epoch: "f" });
  faults: ("throw" | "reject" | "hang" | "late" | "garbage" | "hang-read")[] = [];
  late: (() => void)[] = [];
  append(record: EventRecord): Promise<ServerSentEvent> {
    const fault = this.faults.shift();
    if (fault === "throw") throw new Error("store down (sync)");
    if (fault === "reject") return Promise.reject(new Error("store down"));
    if (fault === "hang") return new Promise(() => {});
    if (fault === "garbage") return Promise.resolve({ id: 5 } as unknown as ServerSentEvent);
    if (fault === "late") {
      return new Promise((resolve) => {
        this.late.push(() => resolve(this.inner.append(record)));
      });
    }
    return this.inner.append(record);
  }
  read(afterId: string, options?: EventStoreReadOptions): Promise<EventStoreReadResult> {
    if (this.faults[0] === "hang-read") {
      this.faults.shift();
      return new Promise(() => {});
    }
    return this.inner.read(afterId, options);
  }
  trim(): Promise<number> {
    return this.inner.trim();
  }
  compare(a: string, b: string): number {
    return this.inner.compare(a, b);
  }
}

describe("Channel with a failing store", () => {
  test("Channel fails only the broadcast whose store throws, rejects or answers garbage", async () => {
    const store = new FaultyStore();
    const channel = new Channel("room", { store });
    const member = client();
    void channel.register(member.target);
    store.faults = ["throw", "reject", "garbage"];
    const results = await Promise.allSettled([
      channel.broadcast("a"),
      channel.broadcast("b"),
      channel.broadcast("c"),
      channel.broadcast("d"),
    ]);
    expect(results.map((result) => result.status)).toEqual([
      "rejected",
      "rejected",
      "rejected",
      "fulfilled",
    ]);
    expect(String((results[0] as PromiseRejectedResult).reason)).toContain("store down (sync)");
    expect(String((results[2] as PromiseRejectedResult).reason)).toContain(
      "must resolve with a ServerSentEvent with an id, received [object Object]",
    );
    await channel.broadcast("e");
    expect(data(await member.until(2))).toEqual(["d", "e"]);
    expect(member.target.closed).toBe(false);
    await member.leave();
  });

  test("Channel rejects a broadcast whose store hangs past storeTimeout and delivers the later ones", async () => {
    const store = new FaultyStore();
    const channel = new Channel("room", { store, storeTimeout: 50 });
    const member = client();
    void channel.register(member.target);
    store.faults = ["hang"];
    const hung = channel.broadcast("lost");
    const next = channel.broadcast("after");
    await expect(hung).rejects.toThrow(
      'Cannot broadcast on channel "room": the store did not answer within 50 ms',
    );
    expect((await next).data).toBe("after");
    expect(data(await member.until(1))).toEqual(["after"]);
    await member.leave();
  });

  test("Channel sends stale when a timed-out append completes after all: never a silent gap", async () => {
    const store = new FaultyStore();
    const channel = new Channel("room", { store, storeTimeout: 30 });
    const member = client();
    void channel.register(member.target);
    store.faults = ["late"];
    const late = channel.broadcast("late");
    await expect(late).rejects.toThrow("did not answer within 30 ms");
    const after = await channel.broadcast("after"); // f:1, delivered
    store.late.shift()!(); // the late one lands as f:2, after "after"
    await new Promise((resolve) => setTimeout(resolve, 5));
    const events = await member.until(2);
    expect(events).toEqual([
      { id: after.id, event: undefined, data: "after" },
      { id: "f:2", event: "stale", data: '{"reason":"expired"}' },
    ]);
    await member.leave();
  });

  test("Channel ends a member whose replay read hangs past storeTimeout with reason error", async () => {
    const store = new FaultyStore();
    const channel = new Channel("room", { store, storeTimeout: 40 });
    await channel.broadcast("one");
    const member = client("f:0");
    const reasons: string[] = [];
    member.target.addEventListener("close", (event) => reasons.push(event.reason));
    store.faults = ["hang-read"];
    await channel.register(member.target);
    expect(reasons).toEqual(["error"]);
    expect(channel.size).toBe(0);
    // The channel still works for the others.
    const other = client();
    void channel.register(other.target);
    await channel.broadcast("two");
    expect(data(await other.until(1))).toEqual(["two"]);
    await other.leave();
  });

  test("Channel validates storeTimeout, naming the value", () => {
    expect(() => new Channel("x", { storeTimeout: 0 })).toThrow(
      new RangeError(
        'Cannot create channel "x": "storeTimeout" must be an integer from 1 to 2147483647, or false to wait for ever, received 0',
      ),
    );
    expect(() => new Channel("x", { storeTimeout: 2 ** 31 })).toThrow(RangeError);
    expect(() => new Channel("x", { storeTimeout: false })).not.toThrow();
  });
});

describe("Channel membership at scale", () => {
  test("A stream in 15 channels raises no MaxListenersExceededWarning and leaves them all when it ends", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const channels = Array.from({ length: 15 }, (_, i) => new Channel(`c${i}`));
      const member = client();
      const closes: string[] = [];
      member.target.addEventListener("close", () =>
        closes.push(channels.map((channel) => channel.size).join("")),
      );
      for (const channel of channels) await channel.register(member.target);
      expect(channels.every((channel) => channel.has(member.target))).toBe(true);
      await channels[3]!.broadcast("three");
      expect(data(await member.until(1))).toEqual(["three"]);
      await member.leave();
      await new Promise((resolve) => setImmediate(resolve));
      expect(channels.map((channel) => channel.size)).toEqual(new Array(15).fill(0));
      expect(warnings.map((warning) => warning.name)).toEqual([]);
      // Members have left before close listeners run.
      expect(closes).toEqual(["0".repeat(15)]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});

describe("Channel and unreadable Last-Event-ID values", () => {
  for (const [name, value] of [
    ["over the length limit", `e:${"9".repeat(2000)}`],
    ["with NUL", "e:1\u0000"],
    ["of 5,000 bytes of UTF-8", "é".repeat(2500)],
  ] as const) {
    test(`Channel sends stale "unknown" to a client whose Last-Event-ID is ${name}, never a silent start`, async () => {
      const store = new MemoryEventStore({ epoch: "e" });
      const channel = new Channel("room", { store });
      await channel.broadcast("missed");
      // Headers cannot carry NUL through the Fetch API: build the target's request by hand.
      const headers = new Headers();
      const raw = value.includes("\u0000") ? null : value;
      if (raw !== null) headers.set("last-event-id", encodeLatin1(raw));
      const request =
        raw === null
          ? ({ headers: { get: () => value }, signal: undefined } as unknown as Request)
          : new Request("http://localhost/", { headers });
      const { response, target } = sendEvents(request, { keepAlive: false });
      expect(target.lastEventId).toBe("");
      await channel.register(target);
      await channel.broadcast("live");
      const reader = response.body!.getReader();
      let text = "";
      while (!text.includes("data: live")) {
        text += decoder.decode((await reader.read()).value, { stream: true });
      }
      expect(parse(text).events.map(({ id, event, data }) => ({ id, event, data }))).toEqual([
        { id: "e:1", event: "stale", data: '{"reason":"unknown"}' },
        { id: "e:2", event: undefined, data: "live" },
      ]);
      await reader.cancel();
    });
  }

  test("Channel still goes live at once for a request with no Last-Event-ID or an empty one", async () => {
    const channel = new Channel("room");
    await channel.broadcast("before");
    for (const headers of [{}, { "last-event-id": "" }]) {
      const { response, target } = sendEvents(new Request("http://localhost/", { headers }), {
        keepAlive: false,
      });
      await channel.register(target);
      await channel.broadcast("live");
      const reader = response.body!.getReader();
      let text = "";
      while (!text.includes("data: live")) {
        text += decoder.decode((await reader.read()).value, { stream: true });
      }
      expect(parse(text).events.map((event) => event.data)).toEqual(["live"]);
      await reader.cancel();
    }
  });
});

/** A header value as the bytes of a string's UTF-8, one character per byte (as a server sees it). */
function encodeLatin1(text: string): string {
  return String.fromCharCode(...new TextEncoder().encode(text));
}

describe("Channel replay against a store that reads wrongly", () => {
  /** A store over `inner` whose `read` gives what `pick` makes of the right answer. */
  function misreading(
    inner: MemoryEventStore,
    read: (after: string, options?: EventStoreReadOptions) => Promise<EventStoreReadResult>,
  ): EventStore {
    return {
      append: (record) => inner.append(record),
      read,
      trim: () => inner.trim(),
      compare: (a, b) => inner.compare(a, b),
    };
  }

  test("Channel never replays an event twice to a store whose read includes the id it was given (XRANGE without '(')", async () => {
    const inner = new MemoryEventStore({ epoch: "i", maxEvents: 5000 });
    const store = misreading(inner, async (after, options) => {
      const result = await inner.read(after, options);
      if (result.stale !== undefined || after === "") return result;
      // Inclusive: the event with id `after` first, then the page (one shorter).
      const own = (await inner.read("")).events.find((event) => event.id === after);
      const limit = options?.limit ?? Number.POSITIVE_INFINITY;
      const events = own === undefined ? result.events : [own, ...result.events].slice(0, limit);
      return { events, lastId: result.lastId };
    });
    const channel = new Channel("inclusive", { store });
    for (let n = 1; n <= 1200; n++) await channel.broadcast(`${n}`);
    const back = client("i:2");
    await channel.register(back.target);
    await channel.broadcast("1201");
    const ids = (await back.until(1199)).map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(Array.from({ length: 1199 }, (_, i) => `i:${i + 3}`));
    await back.leave();
  });

  test("Channel ends, rather than loops for ever on, a replay whose store keeps answering the same full page", async () => {
    const inner = new MemoryEventStore({ epoch: "s", maxEvents: 5000 });
    // A cursor bug: every read answers the first page, whatever id it is given.
    const store = misreading(inner, (_after, options) => inner.read("s:0", options));
    const channel = new Channel("stuck", { store });
    for (let n = 1; n <= 600; n++) await channel.broadcast(`${n}`);
    const { response, target } = sendEvents(
      new Request("http://localhost/", { headers: { "last-event-id": "s:0" } }),
      { keepAlive: false },
    );
    const closes: { reason: string; error: unknown }[] = [];
    target.addEventListener("close", (event) =>
      closes.push({ reason: event.reason, error: event.error }),
    );
    const registered = channel.register(target);
    let settled = false;
    void registered.then(() => {
      settled = true;
    });
    // A client that reads everything, bounded: at most 2 MB or 2 s (the first page is 8 KB).
    const reader = response.body!.getReader();
    let text = "";
    const started = Date.now();
    let failed: unknown;
    while (text.length < 2_000_000 && Date.now() - started < 2000) {
      const result = await reader.read().catch((error: unknown) => {
        failed = error;
        return { done: true, value: undefined };
      });
      if (result.done) break;
      text += decoder.decode(result.value, { stream: true });
    }
    const outcome = settled ? "settled" : "still replaying";
    if (!target.closed) await reader.cancel();
    const events = parse(text).events;
    expect(outcome).toBe("settled");
    expect(closes.map((close) => close.reason)).toEqual(["error"]);
    expect(String(closes[0]!.error)).toMatch(/read\(\) after "s:512" returned no event after it/);
    // The client sees a failed stream (its EventSource reconnects), not a clean end.
    expect(failed).toBe(closes[0]!.error);
    // The first page once, never again.
    expect(events.map((event) => event.id)).toEqual(
      Array.from({ length: 512 }, (_, i) => `s:${i + 1}`),
    );
  });
});

describe("Channel membership changed during a fan-out", () => {
  test("Channel sends a broadcast once to a member that leaves and registers again from its own listener", async () => {
    const channel = new Channel("switch", { store: new MemoryEventStore({ epoch: "w" }) });
    const member = client();
    const other = client();
    await channel.register(member.target);
    await channel.register(other.target);
    // On "switch", the member re-registers (to change its filter, say), while the fan-out runs.
    let switches = 0;
    member.target.addEventListener("switch", () => {
      switches++;
      channel.unregister(member.target);
      void channel.register(member.target, { lastEventId: "" });
    });
    await channel.broadcast("go", { type: "switch" });
    await channel.broadcast("after");
    expect((await member.until(2)).map((event) => [event.id, event.data])).toEqual([
      ["w:1", "go"],
      ["w:2", "after"],
    ]);
    expect(switches).toBe(1);
    expect(channel.size).toBe(2);
    for (const c of [member, other]) await c.leave();
  });
});

describe("Channel history", () => {
  test("Channel sends a fresh member the last `history` events, then live ones", async () => {
    const channel = new Channel("history");
    for (let i = 1; i <= 5; i++) await channel.broadcast(i);
    const member = client();
    await channel.register(member.target, { history: 3 });
    await channel.broadcast(6);
    expect((await member.until(4)).map((event) => event.data)).toEqual(["3", "4", "5", "6"]);
    await member.leave();
  });

  test("Channel history has no gap and no duplicate under concurrent broadcasts", async () => {
    const store = new LatentStore(new MemoryEventStore(), [0, 3, 1, 5, 2]);
    const channel = new Channel("history", { store });
    for (let i = 1; i <= 600; i++) void channel.broadcast(i);
    await channel.broadcast(601);
    const member = client();
    const sent: Promise<ServerSentEvent>[] = [];
    for (let i = 602; i <= 620; i++) sent.push(channel.broadcast(i));
    const registered = channel.register(member.target, { history: 10 });
    for (let i = 621; i <= 640; i++) sent.push(channel.broadcast(i));
    await registered;
    await Promise.all(sent);
    const data = (await member.events()).map((event) => Number(event.data));
    // Some of 602-640 are in the store by the time it is read: the snapshot ends later then.
    const first = data[0]!;
    expect(first).toBeGreaterThanOrEqual(592);
    expect(data.length).toBeGreaterThanOrEqual(10);
    expect(data).toEqual(Array.from({ length: 641 - first }, (_, i) => first + i));
    await member.leave();
  });

  test("Channel history counts only the events the filter accepts", async () => {
    const channel = new Channel("history");
    for (let i = 1; i <= 9; i++) await channel.broadcast(i, { type: i % 2 ? "odd" : "even" });
    const member = client();
    await channel.register(member.target, {
      history: 2,
      filter: (event) => event.type === "even",
    });
    expect((await member.until(2)).map((event) => event.data)).toEqual(["6", "8"]);
    await member.leave();
  });

  test("Channel history is ignored for a member that resumes", async () => {
    const channel = new Channel("history");
    const ids: string[] = [];
    for (let i = 1; i <= 5; i++) ids.push((await channel.broadcast(i)).id!);
    const member = client(ids[3]);
    await channel.register(member.target, { history: 3 });
    expect((await member.events()).map((event) => event.data)).toEqual(["5"]);
    await member.leave();
  });

  test("Channel register rejects a `history` that is not a non-negative integer", () => {
    const channel = new Channel("history");
    const member = client();
    expect(() => channel.register(member.target, { history: -1 })).toThrow(
      new RangeError(
        'Cannot register on channel "history": "history" must be a non-negative integer, received -1',
      ),
    );
    expect(() => channel.register(member.target, { history: 1.5 })).toThrow(RangeError);
  });
});
