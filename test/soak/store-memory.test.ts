import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuilt } from "./harness.ts";
import { FULL, publish } from "./report.ts";
import type { ScenarioResult } from "./scenarios.ts";

const LIVE = FULL ? 3_000 : 300;
const DIRECT = FULL ? 1_000 : 100;
const results: ScenarioResult[] = [];

beforeAll(ensureBuilt, 120_000);
afterAll(() => publish("store-memory", results));

interface Outcome {
  received: number;
  liveMB: number;
  directMB: number;
  storeLength: number;
  storeByteLength: number;
  peakRssMB: number;
  open: number;
  channelSize: number;
  seconds: number;
}

function run(config: Record<string, number>): Promise<Outcome> {
  const script = fileURLToPath(new URL("./store-memory.mjs", import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--expose-gc", script, JSON.stringify(config)],
      { maxBuffer: 1024 * 1024, timeout: 240_000 },
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout.trim()))),
    );
  });
}

describe("soak store memory", () => {
  test(`soak store memory: a live Channel sends ${LIVE} events of 100 KB and a bare store takes ${DIRECT} of 900 KB, and each holds about its 1 MiB bound`, async () => {
    const outcome = await run({
      events: LIVE,
      bytes: 100_000,
      storeEvents: DIRECT,
      storeBytes: 900_000,
    });
    results.push({
      scenario: "store memory",
      mode: "node",
      connections: 1,
      events: outcome.received,
      peakRssMB: Number(outcome.peakRssMB.toFixed(1)),
      heapDeltaMB: Number(Math.max(outcome.liveMB, outcome.directMB).toFixed(1)),
      leakedHandles: outcome.open + outcome.channelSize,
      detection: `held after GC: live channel ${outcome.liveMB.toFixed(1)} MB, bare store ${outcome.directMB.toFixed(1)} MB (${DIRECT} × 900 KB appended)`,
      seconds: Number(outcome.seconds.toFixed(1)),
      facts: { ...outcome },
    });
    expect(outcome.received).toBe(LIVE);
    // The store keeps at most 1 MiB of encoded events, and each one's text beside its bytes.
    expect(outcome.liveMB).toBeLessThan(8);
    expect(outcome.directMB).toBeLessThan(8);
    expect(outcome.storeLength).toBe(1);
    expect(outcome.storeByteLength).toBeLessThan(1024 * 1024);
    expect(outcome.open).toBe(0);
    expect(outcome.channelSize).toBe(0);
  }, 300_000);
});
