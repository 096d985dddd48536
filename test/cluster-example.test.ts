/**
 * examples/cluster: one command starts redis-server, two instances and the round-robin proxy; a
 * client that is dropped reconnects through the proxy to the other instance and misses no tick.
 * Needs `npm run build` (the example imports `sendevents`, which resolves to `dist/`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Subscriber } from "./helpers/redis.ts";
import { ROOT } from "./runtimes/launch.ts";

describe("examples/cluster", () => {
  let child: ChildProcess;
  let url: URL;

  beforeAll(async () => {
    // Its own process group, so that the test ends everything the example started.
    child = spawn(process.execPath, ["examples/cluster/start.js"], {
      cwd: ROOT,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PORT: "0", REDIS_URL: "" },
    });
    let output = "";
    url = await new Promise<URL>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL in 20 s:\n${output}`)), 20_000);
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
        const match = /listening on (\S+)/.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(new URL(match[1]!));
        }
      });
      child.stderr!.on("data", (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.once("exit", (code) => reject(new Error(`start.js exited (${code}):\n${output}`)));
    });
  });

  afterAll(async () => {
    if (child?.pid === undefined) return;
    const exited = new Promise((resolve) => child.once("exit", resolve));
    process.kill(child.pid, "SIGTERM"); // start.js stops what it started
    await exited;
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // Nothing left in the group.
    }
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
