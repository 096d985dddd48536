import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuilt } from "./harness.ts";
import { FULL, publish } from "./report.ts";
import { frozen, halfOpen, type ScenarioResult, shutdown } from "./scenarios.ts";

const FROZEN = FULL ? 500 : 50;
const HALF_OPEN = FULL ? 20 : 4;
const SHUTDOWN = FULL ? 2_000 : 200;
const results: ScenarioResult[] = [];

beforeAll(ensureBuilt, 120_000);
afterAll(() => publish("slow-clients", results));

describe.each([
  ["node", "the Node adapter"],
  ["fetch", "the fetch path"],
] as const)("soak on %s", (mode, name) => {
  test(`soak frozen clients on ${name}: ${FROZEN} clients that never read are closed with "overflow" in bounded memory while fast ones get every event`, async () => {
    const result = await frozen(mode, { clients: FROZEN });
    results.push(result);
    const facts = result.facts;
    expect(facts.frozenCloses).toEqual({ overflow: FROZEN });
    expect(facts.fastCloses).toEqual({});
    expect(facts.fastClosed).toBe(0);
    for (const count of facts.fastReceived as number[]) expect(count).toBeGreaterThan(10);
    expect(facts.gaps).toEqual([0, 0, 0, 0]);
    expect(facts.peakRss as number).toBeLessThan(facts.bound as number);
    expect(facts.open).toBe(0);
    expect(facts.queuedBytes).toBe(0);
    expect(facts.handles).toBe(0);
    expect(facts.busListeners).toBe(0);
    expect(facts.warnings).toEqual([]);
    expect(facts.errors).toEqual([]);
  }, 150_000);

  test(`soak half-open on ${name}: clients that vanish without FIN or RST are closed within two keep-alive intervals of the last byte`, async () => {
    const result = await halfOpen(mode, { clients: HALF_OPEN });
    results.push(result);
    const facts = result.facts;
    expect(facts.reasons).toEqual(Array(HALF_OPEN).fill("client"));
    expect(facts.worst as number).toBeLessThanOrEqual(2 * (facts.keepAlive as number));
    expect(facts.healthyGrew).toBe(true);
    expect(facts.healthyCloses).toEqual({});
    expect(facts.open).toBe(0);
    expect(facts.handles).toBe(0);
    expect(facts.warnings).toEqual([]);
    expect(facts.errors).toEqual([]);
  }, 90_000);

  test(`soak graceful shutdown on ${name}: ${SHUTDOWN} streams get a jittered retry and a clean end before the deadline`, async () => {
    const result = await shutdown(mode, { clients: SHUTDOWN });
    results.push(result);
    const facts = result.facts as {
      result: { closed: number; aborted: number; ms: number };
      retries: number[];
      distinctRetries: number;
      endedCleanly: number;
      closes: Record<string, number>;
      open: number;
      errors: string[];
      options: { retry: number; jitter: number; deadline: number };
    };
    expect(facts.result.closed).toBe(SHUTDOWN);
    expect(facts.result.aborted).toBe(0);
    expect(facts.result.ms).toBeLessThan(facts.options.deadline);
    for (const retry of facts.retries) {
      expect(retry).toBeGreaterThanOrEqual(facts.options.retry);
      expect(retry).toBeLessThanOrEqual(facts.options.retry + facts.options.jitter);
    }
    expect(facts.distinctRetries).toBeGreaterThan(SHUTDOWN / 4);
    expect(facts.endedCleanly).toBe(SHUTDOWN);
    expect(facts.closes).toEqual({ server: SHUTDOWN });
    expect(facts.open).toBe(0);
    expect(facts.errors).toEqual([]);
  }, 60_000);
});
