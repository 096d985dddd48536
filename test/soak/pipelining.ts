/**
 * The pipelining scenario, on the Node adapter: HTTP/1.1 clients that pipeline event-stream
 * requests, as deep as an attacker likes, then go. Node parses every pipelined request at once
 * and queues its response behind the one being sent; the adapter must open nothing for a
 * response that can never be sent, bound what one connection may queue, and release everything
 * when the connection ends.
 */
import {
  connect,
  delay,
  leftOver,
  MB,
  pool,
  type RawClient,
  type ServerStats,
  SoakServer,
} from "./harness.ts";
import type { ScenarioResult } from "./scenarios.ts";

const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
const toMB = (bytes: number): number => round(bytes / MB);

/** `count` pipelined event-stream requests, in one buffer: the client sends them in one write. */
function pipelined(count: number): Buffer {
  return Buffer.from(
    "GET /events?kind=pipelined HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".repeat(
      count,
    ),
    "latin1",
  );
}

/**
 * One connection of the scenario. `deep` ones pipeline 2,000 requests (the attack), which the
 * server answers by destroying the connection; the others pipeline as many as the adapter
 * queues, wait for the first stream's first event, and close (FIN or RST by `index`).
 */
async function once(port: number, index: number, deep: boolean, shallow: number): Promise<void> {
  const client: RawClient = connect(port, {
    path: "/",
    raw: pipelined(deep ? 2000 : shallow),
  });
  if (deep) {
    await Promise.race([client.closed, delay(10_000)]);
  } else {
    await Promise.race([client.ready, client.closed, delay(5000)]);
    if (index % 2 === 0) await Promise.race([client.end(), delay(5000)]);
    else await client.reset();
  }
  client.socket.destroy();
}

/**
 * Pipelining: `connections` connections, half of them pipelining 2,000 event-stream requests in
 * one write, half pipelining `shallow` (within the adapter's bound) and then closing once the
 * first stream has its first event. Only the stream at the head of each connection may open;
 * afterwards no target, timer, listener, socket or heap may be left.
 */
export async function pipelining({
  connections,
  shallow,
}: {
  connections: number;
  shallow: number;
}): Promise<ScenarioResult> {
  const server = await SoakServer.start({ mode: "node", keepAlive: 500 });
  const settle = (stats: ServerStats): boolean => stats.open === 0 && stats.connections === 0;
  try {
    const start = await server.stats(true);
    // Warm up (JIT, pools), so the heap baseline is the steady state.
    await pool(20, 10, (index) => once(server.port, index, index % 2 === 0, shallow));
    await server.until(settle, 10_000);
    const base = await server.stats(true);
    await server.call("resetPeak");
    const began = performance.now();
    await pool(connections, 10, (index) => once(server.port, index, index % 2 === 0, shallow));
    const lastClose = performance.now();
    const settled = await server.until(settle, 15_000);
    const cleanupMs = performance.now() - lastClose;
    const after = await server.until(
      (stats) => leftOver(start.resources, stats.resources) === 0,
      5_000,
      true,
    );
    const handles = leftOver(start.resources, after.resources);
    const serverListeners = leftOver(start.serverListeners, after.serverListeners);
    const processListeners = leftOver(start.processListeners, after.processListeners);
    return {
      scenario: "pipelining",
      mode: "node",
      connections,
      events: after.metrics.eventsSent - base.metrics.eventsSent,
      peakRssMB: toMB(after.peakRss),
      heapDeltaMB: toMB(after.heapUsed - base.heapUsed),
      leakedHandles: handles + serverListeners + processListeners + after.busListeners,
      detection: `${(connections / 2) * 2000 + (connections / 2) * shallow} pipelined requests; all closes seen ${Math.round(cleanupMs)} ms after the last client left`,
      seconds: round((performance.now() - began) / 1000),
      facts: {
        opened: after.metrics.opened - base.metrics.opened,
        settledOpen: settled.open,
        open: after.open,
        metricsOpen: after.metrics.open,
        queuedBytes: after.metrics.queuedBytes,
        appStreams: after.appStreams,
        groupSize: after.groupSize,
        busListeners: after.busListeners,
        connections: after.connections,
        keepAliveTimers: Math.max(
          0,
          (after.resources.Timeout ?? 0) - (start.resources.Timeout ?? 0),
        ),
        handles,
        serverListeners,
        processListeners,
        heapDelta: after.heapUsed - base.heapUsed,
        closes: after.closes.pipelined,
        warnings: after.warnings,
        errors: after.errors,
      },
    };
  } finally {
    await server.stop();
  }
}
