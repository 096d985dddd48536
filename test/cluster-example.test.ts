/**
 * examples/cluster: one command starts redis-server, two instances and the round-robin proxy; a
 * client that is dropped reconnects through the proxy to the other instance and misses no tick.
 * Needs `npm run build` (the example imports `sendevents`, which resolves to `dist/`).
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Subscriber } from "./helpers/redis.ts";
import { type ServerProcess, startServer } from "./runtimes/launch.ts";

describe("examples/cluster", () => {
  let child: ServerProcess | undefined;
  let url: URL;

  beforeAll(async () => {
    // In a process group of its own (as the launcher starts everything), so that the test ends
    // everything the example started.
    child = await startServer(
      "examples/cluster/start.js",
      process.execPath,
      ["examples/cluster/start.js"],
      { env: { REDIS_URL: "" }, timeout: 20_000 },
    );
    url = child.url;
  });

  afterAll(async () => {
    if (child === undefined) return;
    child.kill("SIGTERM"); // start.js stops what it started
    await child.exited;
    await child.stop(); // and anything left in the group
  });

  test("examples/cluster: the clock survives a drop and a reconnect to the other instance, nothing lost", async () => {
    const client = new Subscriber();
    const ticks = () => client.events.filter((event) => event.type === "tick");
    const hellos = () => client.events.filter((event) => event.type === "hello");
    await client.connect(url, "room", "");
    await client.until(() => ticks().length >= 2, 10_000);
    const dropped = await (await fetch(new URL("/drop", url), { method: "POST" })).json();
    expect(dropped.dropped).toBeGreaterThanOrEqual(1);
    await client.ended;
    const before = ticks().length;
    // As EventSource does after its retry delay, through the proxy: the other instance this time.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await client.connect(url, "room");
    await client.until(() => ticks().length >= before + 2, 10_000);
    await client.close();
    const served = hellos().map((event) => event.data);
    expect(served).toHaveLength(2);
    expect(served[0]).not.toBe(served[1]);
    const numbers = ticks().map((event) => JSON.parse(event.data).tick as number);
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
    expect(client.events.some((event) => event.type === "stale")).toBe(false);
  });
});
