import { expect, test } from "vitest";
import { KeepAliveWheel } from "../src/_internal/keep-alive.ts";
import { sendEvents } from "../src/index.ts";
import { delay, readAll } from "./helpers/stream.ts";

test("keep-alive: one wheel serves every stream with the same interval and stops on the tick after the last leaves", async () => {
  const running = KeepAliveWheel.running;
  const streams = Array.from({ length: 50 }, () =>
    sendEvents(new Request("http://localhost/"), { keepAlive: 40 }),
  );
  expect(KeepAliveWheel.running).toBe(running + 1);
  const other = sendEvents(new Request("http://localhost/"), { keepAlive: 60 });
  expect(KeepAliveWheel.running).toBe(running + 2);
  for (const { target } of streams) void target.close();
  void other.target.close();
  await Promise.all([...streams, other].map(({ response }) => readAll(response)));
  // Still turning, so that a stream arriving now needs no new timer; gone at its next tick.
  expect(KeepAliveWheel.running).toBe(running + 2);
  const again = sendEvents(new Request("http://localhost/"), { keepAlive: 40 });
  expect(KeepAliveWheel.running).toBe(running + 2);
  void again.target.close();
  await readAll(again.response);
  await delay(40); // a tick of each: 10 ms and 15 ms
  expect(KeepAliveWheel.running).toBe(running);
});

test("keep-alive: a silent stream gets a comment within 1¼ intervals; a busy one gets none", async () => {
  const silent = sendEvents(new Request("http://localhost/"), { keepAlive: 80 });
  const busy = sendEvents(new Request("http://localhost/"), { keepAlive: 80 });
  const timer = setInterval(() => busy.target.dispatchMessage("tick"), 20);
  await delay(300);
  clearInterval(timer);
  void silent.target.close();
  void busy.target.close();
  const [quiet, loud] = await Promise.all([readAll(silent.response), readAll(busy.response)]);
  // The opening comment, then about one per interval (300 ms / 80 ms, give or take a tick).
  const pings = quiet.split(":\n\n").length - 2;
  expect(pings).toBeGreaterThanOrEqual(2);
  expect(pings).toBeLessThanOrEqual(4);
  expect(loud.startsWith(":\n\n")).toBe(true);
  expect(loud.slice(3)).not.toContain(":\n\n");
});

test("keep-alive: a wheel is forgotten once it stops, so streams with many distinct intervals leave nothing behind", async () => {
  const { heldBytes, MB } = await import("./helpers/heap.ts");
  const running = KeepAliveWheel.running;
  const before = await heldBytes();
  // A keep-alive per stream (jittered, or taken from the request): 15,000 distinct intervals.
  for (let round = 0; round < 3; round++) {
    const streams = Array.from({ length: 5000 }, (_, i) =>
      sendEvents(new Request("http://localhost/"), { keepAlive: 4 + round * 5000 + i }),
    );
    for (const { response } of streams) await response.body!.cancel();
    // Every wheel's next tick (at most a quarter of 15,003 ms) finds it empty.
    for (let i = 0; i < 100 && KeepAliveWheel.running > running; i++) await delay(50);
  }
  expect(KeepAliveWheel.running).toBeLessThanOrEqual(running);
  // 15,000 wheels kept took some 6 MB.
  expect((await heldBytes()) - before).toBeLessThan(1.5 * MB);
}, 30_000);
