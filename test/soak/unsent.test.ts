import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuilt } from "./harness.ts";
import { FULL, publish } from "./report.ts";
import type { ScenarioResult } from "./scenarios.ts";

const REQUESTS = FULL ? 5_000 : 500;
const CONCURRENCY = 50;
const results: ScenarioResult[] = [];

beforeAll(ensureBuilt, 120_000);
afterAll(() => publish("unsent", results));

interface Report {
  peakRssMB: number;
  handled: number;
  open: number;
  closes: Record<string, number>;
  heapDeltaMB: number;
  drainMs: number;
  errors: string[];
}

describe.each([
  ["node", "the Node adapter"],
  ["fetch", "the fetch path"],
] as const)("soak unsent on %s", (mode, name) => {
  test(`soak unsent on ${name}: ${REQUESTS} handlers open a stream, then answer 401 or throw: every stream ends, nothing is held`, async () => {
    const started = performance.now();
    const script = fileURLToPath(new URL("./unsent.mjs", import.meta.url));
    const child = fork(script, [JSON.stringify({ mode })], { execArgv: ["--expose-gc"] });
    try {
      const { port } = await new Promise<{ port: number }>((resolve) =>
        child.once("message", (message) => resolve(message as { port: number })),
      );
      const statuses: Record<number, number> = {};
      let next = 0;
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < REQUESTS) {
            next++;
            const response = await fetch(`http://127.0.0.1:${port}/`);
            await response.arrayBuffer();
            statuses[response.status] = (statuses[response.status] ?? 0) + 1;
          }
        }),
      );
      const report = await new Promise<Report>((resolve) => {
        child.once("message", (message) => resolve(message as Report));
        child.send("done");
      });
      results.push({
        scenario: "unsent responses",
        mode,
        connections: REQUESTS,
        events: REQUESTS,
        peakRssMB: Number(report.peakRssMB.toFixed(1)),
        heapDeltaMB: Number(report.heapDeltaMB.toFixed(1)),
        leakedHandles: report.open,
        detection: `every stream closed with "error" ${Math.round(report.drainMs)} ms after the last answer`,
        seconds: Number(((performance.now() - started) / 1000).toFixed(1)),
        facts: { ...report, statuses },
      });
      expect(statuses).toEqual({ 401: REQUESTS / 2, 500: REQUESTS / 2 });
      expect(report.handled).toBe(REQUESTS);
      expect(report.open).toBe(0);
      expect(report.closes.error).toBe(REQUESTS);
      expect(report.heapDeltaMB).toBeLessThan(16);
      expect(report.errors).toEqual([]);
    } finally {
      child.kill();
    }
  }, 120_000);
});
