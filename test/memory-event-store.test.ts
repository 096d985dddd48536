import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { MemoryEventStore, ServerSentEvent } from "../src/index.ts";
import { delay } from "./helpers/stream.ts";

const encoder = new TextEncoder();
/** What one event costs on the wire, measured independently of the store. */
function wireSize(event: ServerSentEvent): number {
  let text = event.type === "message" ? "" : `event: ${event.type}\n`;
  if (event.id !== undefined) text += `id: ${event.id}\n`;
  return encoder.encode(`${text}data: ${event.data}\n\n`).byteLength;
}

async function all(store: MemoryEventStore): Promise<readonly ServerSentEvent[]> {
  const result = await store.read("");
  expect(result.stale).toBeUndefined();
  return result.events;
}

describe("MemoryEventStore", () => {
  test("MemoryEventStore assigns ordered ids carrying its epoch, and reads after an id", async () => {
    const store = new MemoryEventStore({ epoch: "e1" });
    expect(store.lastId).toBe("e1:0");
    const one = await store.append({ type: "message", data: "one" });
    const two = await store.append({ type: "chat", data: "two", retry: 10 });
    expect([one.id, two.id]).toEqual(["e1:1", "e1:2"]);
    expect(two).toBeInstanceOf(ServerSentEvent);
    expect([two.type, two.data, two.retry]).toEqual(["chat", "two", 10]);
    expect(store.compare(one.id!, two.id!)).toBeLessThan(0);
    expect(store.compare(two.id!, one.id!)).toBeGreaterThan(0);
    expect(store.compare(two.id!, two.id!)).toBe(0);
    expect((await store.read(one.id!)).events).toEqual([two]);
    expect((await store.read(two.id!)).events).toEqual([]);
    expect((await store.read("")).events).toEqual([one, two]);
    expect((await store.read("", { limit: 1 })).events).toEqual([one]);
    expect((await store.read("e1:0")).events).toEqual([one, two]);
    expect((await store.read(one.id!)).lastId).toBe("e1:2");
  });

  test("MemoryEventStore assigns ids in call order even when appends are not awaited", async () => {
    const store = new MemoryEventStore({ epoch: "e" });
    const events = await Promise.all(
      [1, 2, 3].map((n) => store.append({ type: "message", data: `${n}` })),
    );
    expect(events.map((event) => [event.id, event.data])).toEqual([
      ["e:1", "1"],
      ["e:2", "2"],
      ["e:3", "3"],
    ]);
  });

  test("MemoryEventStore picks a random epoch, so another store's ids read as unknown", async () => {
    const a = new MemoryEventStore();
    const b = new MemoryEventStore();
    expect(a.epoch).not.toBe(b.epoch);
    expect(a.epoch).toMatch(/^[a-z0-9]{12}$/);
    const fromA = await a.append({ type: "message", data: "secret" });
    await b.append({ type: "message", data: "other" });
    expect(await b.read(fromA.id!)).toEqual({ events: [], stale: "unknown", lastId: b.lastId });
    expect(() => b.compare(fromA.id!, b.lastId)).toThrow(TypeError);
  });

  test("MemoryEventStore reads forged, malformed and future ids as unknown", async () => {
    const store = new MemoryEventStore({ epoch: "e" });
    await store.append({ type: "message", data: "x" });
    for (const id of [
      "e:2",
      "e:99",
      "e:01",
      "e:-1",
      "e:1.0",
      "e:",
      "e",
      "1",
      "x:1",
      "e:1:1",
      "e:99999999999999999",
    ]) {
      expect((await store.read(id)).stale, id).toBe("unknown");
    }
  });

  test("MemoryEventStore never holds more than maxEvents, measured, and reports dropped ids as expired", async () => {
    const store = new MemoryEventStore({ maxEvents: 3, epoch: "e" });
    let maxHeld = 0;
    for (let i = 1; i <= 10; i++) {
      await store.append({ type: "message", data: `${i}` });
      const held = await all(store);
      maxHeld = Math.max(maxHeld, held.length);
      expect(held.length).toBe(store.length);
    }
    expect(maxHeld).toBe(3);
    expect((await all(store)).map((event) => event.data)).toEqual(["8", "9", "10"]);
    // e:7 is the one before the oldest held: nothing after it is missing.
    expect((await store.read("e:7")).events.map((event) => event.data)).toEqual(["8", "9", "10"]);
    expect(await store.read("e:6")).toEqual({ events: [], stale: "expired", lastId: "e:10" });
    expect(await store.read("e:1")).toEqual({ events: [], stale: "expired", lastId: "e:10" });
  });

  test("MemoryEventStore stays correct over many evictions (its ring compacts as it goes)", async () => {
    const store = new MemoryEventStore({ maxEvents: 100, epoch: "e" });
    for (let i = 1; i <= 5000; i++) {
      await store.append({ type: "message", data: `${i}` });
      if (i % 997 === 0) {
        const held = await all(store);
        expect(held.map((event) => event.data)).toEqual(
          Array.from({ length: 100 }, (_, k) => `${i - 99 + k}`),
        );
      }
    }
    expect(store.length).toBe(100);
    expect((await store.read("e:4950")).events.map((event) => event.data)).toEqual(
      Array.from({ length: 50 }, (_, k) => `${4951 + k}`),
    );
    expect((await store.read("e:4901")).events).toHaveLength(99);
    expect((await store.read("e:4900")).events).toHaveLength(100);
    expect((await store.read("e:4899")).stale).toBe("expired");
  });

  test("MemoryEventStore never holds more than maxBytes of encoded events, measured on the wire", async () => {
    const maxBytes = 200;
    const store = new MemoryEventStore({ maxBytes, epoch: "e" });
    let maxHeld = 0;
    for (let i = 1; i <= 50; i++) {
      await store.append({ type: "message", data: "x".repeat(i % 17) });
      const held = (await all(store)).reduce((sum, event) => sum + wireSize(event), 0);
      expect(held).toBe(store.byteLength);
      maxHeld = Math.max(maxHeld, held);
    }
    expect(maxHeld).toBeLessThanOrEqual(maxBytes);
    expect(maxHeld).toBeGreaterThan(maxBytes / 2);
  });

  test("MemoryEventStore keeps no event larger than maxBytes, and resuming across one is expired", async () => {
    const store = new MemoryEventStore({ maxBytes: 100, epoch: "e" });
    await store.append({ type: "message", data: "small" });
    const big = await store.append({ type: "message", data: "x".repeat(200) });
    expect(big.id).toBe("e:2");
    expect(store.length).toBe(0);
    expect(store.byteLength).toBe(0);
    expect((await store.read("e:1")).stale).toBe("expired");
    expect((await store.read("e:2")).events).toEqual([]);
    const next = await store.append({ type: "message", data: "after" });
    expect((await store.read("e:2")).events).toEqual([next]);
  });

  test("MemoryEventStore drops events past maxAge on read and on trim", async () => {
    const store = new MemoryEventStore({ maxAge: 40, epoch: "e" });
    await store.append({ type: "message", data: "old" });
    await store.append({ type: "message", data: "old too" });
    await delay(80);
    expect(await store.trim()).toBe(2);
    expect(store.length).toBe(0);
    await store.append({ type: "message", data: "fresh" });
    expect((await store.read("e:1")).stale).toBe("expired");
    expect((await store.read("e:2")).events.map((event) => event.data)).toEqual(["fresh"]);
    await delay(80);
    expect((await store.read("e:2")).events).toEqual([]);
    expect(store.length).toBe(0);
    expect(await store.trim()).toBe(0);
  });

  test("MemoryEventStore bounds hold under any sequence of appends (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 20, max: 400 }),
        fc.array(fc.string({ maxLength: 60 }), { maxLength: 80 }),
        async (maxEvents, maxBytes, payloads) => {
          const store = new MemoryEventStore({ maxEvents, maxBytes, epoch: "p" });
          const appended: ServerSentEvent[] = [];
          for (const data of payloads) {
            appended.push(await store.append({ type: "message", data }));
            const held = await all(store);
            expect(held.length).toBeLessThanOrEqual(maxEvents);
            expect(held.reduce((sum, event) => sum + wireSize(event), 0)).toBeLessThanOrEqual(
              maxBytes,
            );
            // What is held is always the newest events, contiguous, in order.
            expect(held).toEqual(appended.slice(appended.length - held.length));
            // Resuming from any id either gives exactly the events after it, or says expired.
            const from = appended[Math.floor(appended.length / 2)]!;
            const result = await store.read(from.id!);
            const expected = appended.slice(appended.indexOf(from) + 1);
            if (result.stale === undefined) expect(result.events).toEqual(expected);
            else {
              expect(result.stale).toBe("expired");
              expect(held.length).toBeLessThan(expected.length);
            }
          }
        },
      ),
      { numRuns: 60 },
    );
  });

  test("MemoryEventStore validates its options, naming the value", () => {
    expect(() => new MemoryEventStore({ maxEvents: 0 })).toThrow(
      new RangeError(
        'Cannot create event store: "maxEvents" must be a positive integer, received 0',
      ),
    );
    expect(() => new MemoryEventStore({ maxEvents: 1.5 })).toThrow(RangeError);
    expect(() => new MemoryEventStore({ maxBytes: -1 })).toThrow(/"maxBytes".*received -1/);
    expect(() => new MemoryEventStore({ maxAge: 0 })).toThrow(/"maxAge".*received 0/);
    expect(() => new MemoryEventStore({ maxAge: Number.NaN })).toThrow(RangeError);
    expect(() => new MemoryEventStore({ maxAge: Number.POSITIVE_INFINITY })).not.toThrow();
    expect(() => new MemoryEventStore({ epoch: "a:b" })).toThrow(/"epoch".*received "a:b"/);
    expect(() => new MemoryEventStore({ epoch: "" })).toThrow(TypeError);
    expect(() => new MemoryEventStore().read("", { limit: 0 })).toThrow(/"limit".*received 0/);
  });
});

describe("MemoryEventStore memory bound", () => {
  test("MemoryEventStore releases dropped events: its byte bound is a bound on memory", async () => {
    const { heldBytes, MB } = await import("./helpers/heap.ts");
    const store = new MemoryEventStore(); // maxBytes 1 MiB
    const before = await heldBytes();
    // Each event is 900 KB of text and 900 KB of encoded bytes; only the newest fits the bound.
    for (let i = 0; i < 120; i++) {
      await store.append({ type: "message", data: String(i % 10).repeat(900_000) });
    }
    expect(store.length).toBe(1);
    expect(store.byteLength).toBeLessThan(MB);
    const grown = (await heldBytes()) - before;
    // One event held (about 1.8 MB with its text); 120 held would be over 200 MB.
    expect(grown).toBeLessThan(12 * MB);
    // What is held is still readable.
    const { events } = await store.read("");
    expect(events.map((event) => event.id)).toEqual([store.lastId]);
  });

  test("MemoryEventStore releases events dropped by count and by age", async () => {
    const { heldBytes, MB } = await import("./helpers/heap.ts");
    const byCountStore = new MemoryEventStore({ maxEvents: 2, maxBytes: 64 * MB });
    const before = await heldBytes();
    for (let i = 0; i < 40; i++) {
      await byCountStore.append({ type: "message", data: String(i % 10).repeat(1_000_000) });
    }
    expect(byCountStore.length).toBe(2);
    expect((await heldBytes()) - before).toBeLessThan(16 * MB);
    // By age, with a newer event still held (a store emptied by age resets itself anyway): the
    // store's clock is Date.now(), so wait past maxAge rather than race it.
    const byAgeStore = new MemoryEventStore({ maxBytes: 64 * MB, maxAge: 400 });
    const beforeAge = await heldBytes();
    for (let i = 0; i < 5; i++) {
      await byAgeStore.append({ type: "message", data: String(i).repeat(4_000_000) });
    }
    await delay(250);
    await byAgeStore.append({ type: "message", data: "newer" });
    await delay(250);
    await byAgeStore.trim();
    expect((await byAgeStore.read("")).events.map((event) => event.data)).toEqual(["newer"]);
    expect((await heldBytes()) - beforeAge).toBeLessThan(8 * MB);
  });
});

describe("MemoryEventStore memory bound with many small events", () => {
  // Fails today (no fix yet): each held event costs some 480 bytes of objects (the entry, the
  // ServerSentEvent, its id and data strings, its encoded Uint8Array) besides its wire bytes, so
  // with a raised maxEvents, 1 MiB of tiny events holds about 15 MiB. The fix belongs in `append`:
  // count a per-event cost against maxBytes (or keep small events' bytes in shared blocks).
  test("MemoryEventStore holds about maxBytes of memory for tiny events too, not an object graph per event", async () => {
    const { heldBytes, MB } = await import("./helpers/heap.ts");
    const store = new MemoryEventStore({
      maxEvents: 10_000_000,
      maxBytes: MB,
      maxAge: Number.POSITIVE_INFINITY,
    });
    const before = await heldBytes();
    for (let i = 0; i < 100_000; i++) await store.append({ type: "message", data: "" });
    expect(store.byteLength).toBeLessThanOrEqual(MB);
    const held = (await heldBytes()) - before;
    expect(held).toBeLessThan(4 * MB);
  });
});
