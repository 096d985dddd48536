import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { MAX_PIPELINED } from "../../adapters/_node/pipelining.ts";
import { ensureBuilt, MB } from "./harness.ts";
import { pipelining } from "./pipelining.ts";
import { FULL, publish } from "./report.ts";
import type { ScenarioResult } from "./scenarios.ts";

const CONNECTIONS = FULL ? 200 : 20;
const results: ScenarioResult[] = [];

beforeAll(ensureBuilt, 120_000);
afterAll(() => publish("pipelining", results));

describe("soak on node", () => {
  test(`soak pipelining on the Node adapter: ${CONNECTIONS} connections pipelining up to 2,000 event streams each, then gone, leave nothing behind`, async () => {
    const result = await pipelining({ connections: CONNECTIONS, shallow: MAX_PIPELINED });
    results.push(result);
    const facts = result.facts;
    // Only the stream at the head of each connection opened: the queued ones never ran.
    expect(facts.opened).toBe(CONNECTIONS);
    expect(facts.closes).toEqual({ client: CONNECTIONS + 20 });
    expect(facts.settledOpen).toBe(0);
    expect(facts.open).toBe(0);
    expect(facts.metricsOpen).toBe(0);
    expect(facts.queuedBytes).toBe(0);
    expect(facts.appStreams).toBe(0);
    expect(facts.groupSize).toBe(0);
    expect(facts.busListeners).toBe(0);
    expect(facts.connections).toBe(0);
    expect(facts.keepAliveTimers).toBe(0);
    expect(facts.handles).toBe(0);
    expect(facts.serverListeners).toBe(0);
    expect(facts.processListeners).toBe(0);
    expect(facts.warnings).toEqual([]);
    expect(facts.errors).toEqual([]);
    expect(Math.abs(facts.heapDelta as number)).toBeLessThan(5 * MB);
  }, 150_000);
});
