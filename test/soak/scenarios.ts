/**
 * The soak scenarios. Each starts its own server process, drives it with raw clients, and returns
 * the figures for the report and the facts the tests assert on. Sizes come from the caller:
 * reduced in `npm test`, full in `npm run soak`.
 */
import * as http2 from "node:http2";
import {
  connect,
  delay,
  eventsOf,
  exchange,
  leftOver,
  MB,
  type Mode,
  pool,
  type RawClient,
  type ServerStats,
  SoakServer,
} from "./harness.ts";

/** One row of a scenario's table, and what the tests check. */
export interface ScenarioResult {
  scenario: string;
  mode: Mode;
  connections: number;
  /** Events and comments the server sent (its `metrics.eventsSent`, over the measured part). */
  events: number;
  peakRssMB: number;
  heapDeltaMB: number;
  /** Handles, timers and listeners still there after every connection ended, above the baseline. */
  leakedHandles: number;
  /** What "detection latency" means for the scenario, measured. */
  detection: string;
  seconds: number;
  /** Facts for the assertions. */
  facts: Record<string, unknown>;
}

const round = (value: number, digits = 1): number => Number(value.toFixed(digits));
const toMB = (bytes: number): number => round(bytes / MB);

/** How a run ended on the server: what must be back to its baseline. */
function leaks(start: ServerStats, after: ServerStats) {
  return {
    open: after.open,
    metricsOpen: after.metrics.open,
    queuedBytes: after.metrics.queuedBytes,
    groupSize: after.groupSize,
    appStreams: after.appStreams,
    busListeners: after.busListeners,
    connections: after.connections,
    keepAliveTimers: Math.max(0, (after.resources.Timeout ?? 0) - (start.resources.Timeout ?? 0)),
    handles: leftOver(start.resources, after.resources),
    serverListeners: leftOver(start.serverListeners, after.serverListeners),
    processListeners: leftOver(start.processListeners, after.processListeners),
    warnings: after.warnings,
    errors: after.errors,
  };
}

/** Waits for the client to see its first event, or to be closed, or 5 s. */
async function opened(client: RawClient): Promise<void> {
  await Promise.race([client.ready, client.closed, delay(5000)]);
}

async function churnOnce(port: number, index: number): Promise<void> {
  const client = connect(port, { path: "/events?kind=churn" });
  await opened(client);
  // Wait for a broadcast chunk, so the close lands while events are being written.
  await client.nextData(100);
  if (index % 2 === 0) await Promise.race([client.end(), delay(5000)]);
  else await client.reset();
  client.socket.destroy();
}

/**
 * Churn: connections opened and closed by the client, half with FIN and half with RST while
 * events flow, with a broadcaster writing to every open one. Afterwards nothing may be left.
 */
export async function churn(
  mode: Mode,
  { connections, concurrency }: { connections: number; concurrency: number },
): Promise<ScenarioResult> {
  const server = await SoakServer.start({ mode, keepAlive: 500 });
  try {
    // The baseline of handles, timers and listeners: before any connection.
    const start = await server.stats(true);
    await server.call("broadcast", { interval: 20, bytes: 2048 });
    // Warm up (JIT, pools), so the heap baseline is the steady state.
    await pool(200, concurrency, (index) => churnOnce(server.port, index));
    await server.until((stats) => stats.open === 0 && stats.connections === 0, 10_000);
    await server.call("stopBroadcast");
    const base = await server.stats(true);
    await server.call("resetPeak");
    await server.call("broadcast", { interval: 20, bytes: 2048 });
    const began = performance.now();
    await pool(connections, concurrency, (index) => churnOnce(server.port, index));
    const lastClose = performance.now();
    const settled = await server.until(
      (stats) => stats.open === 0 && stats.connections === 0,
      15_000,
    );
    const cleanupMs = performance.now() - lastClose;
    await server.call("stopBroadcast");
    const after = await server.until(
      (stats) => leftOver(start.resources, stats.resources) === 0,
      5_000,
      true,
    );
    const left = leaks(start, after);
    return {
      scenario: "churn",
      mode,
      connections,
      events: after.metrics.eventsSent - base.metrics.eventsSent,
      peakRssMB: toMB(after.peakRss),
      heapDeltaMB: toMB(after.heapUsed - base.heapUsed),
      leakedHandles:
        left.handles + left.serverListeners + left.processListeners + left.busListeners,
      detection: `all closes seen ${Math.round(cleanupMs)} ms after the last client left`,
      seconds: round((performance.now() - began) / 1000),
      facts: {
        ...left,
        settledOpen: settled.open,
        heapDelta: after.heapUsed - base.heapUsed,
        closes: after.closes.churn,
        opened: after.metrics.opened - base.metrics.opened,
      },
    };
  } finally {
    await server.stop();
  }
}

/**
 * Churn over HTTP/2 (h2c) on the Node adapter: sessions of 100 streams each; half the sessions
 * cancel every stream (RST_STREAM) and then close, the others are destroyed with their streams
 * open. Afterwards nothing may be left.
 */
export async function churnHttp2({ streams }: { streams: number }): Promise<ScenarioResult> {
  const server = await SoakServer.start({ mode: "node", keepAlive: 500, http2: true });
  const perSession = 100;
  const runSession = async (index: number): Promise<void> => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    session.on("error", () => {
      // Destroyed sessions and cancelled streams: what the server saw is what counts.
    });
    const opened = Array.from({ length: perSession }, () => {
      const stream = session.request({ ":path": "/events?kind=churn" });
      stream.on("error", () => {});
      return new Promise<http2.ClientHttp2Stream>((resolve) => {
        stream.once("data", () => resolve(stream));
        stream.once("close", () => resolve(stream));
      });
    });
    const all = await Promise.all(opened);
    // Let a broadcast chunk go out, so the cancels land while events are being written.
    await delay(25);
    if (index % 2 === 0) {
      for (const stream of all) stream.close(http2.constants.NGHTTP2_CANCEL);
      await new Promise<void>((resolve) => session.close(resolve));
    } else session.destroy();
  };
  try {
    const start = await server.stats(true);
    await server.call("broadcast", { interval: 20, bytes: 2048 });
    await pool(2, 2, runSession);
    await server.until((stats) => stats.open === 0 && stats.connections === 0, 10_000);
    await server.call("stopBroadcast");
    const base = await server.stats(true);
    await server.call("resetPeak");
    await server.call("broadcast", { interval: 20, bytes: 2048 });
    const began = performance.now();
    await pool(streams / perSession, 4, runSession);
    const lastClose = performance.now();
    const settled = await server.until(
      (stats) => stats.open === 0 && stats.connections === 0,
      15_000,
    );
    const cleanupMs = performance.now() - lastClose;
    await server.call("stopBroadcast");
    const after = await server.until(
      (stats) => leftOver(start.resources, stats.resources) === 0,
      5_000,
      true,
    );
    const left = leaks(start, after);
    return {
      scenario: "churn over HTTP/2",
      mode: "node",
      connections: streams,
      events: after.metrics.eventsSent - base.metrics.eventsSent,
      peakRssMB: toMB(after.peakRss),
      heapDeltaMB: toMB(after.heapUsed - base.heapUsed),
      leakedHandles:
        left.handles + left.serverListeners + left.processListeners + left.busListeners,
      detection: `all closes seen ${Math.round(cleanupMs)} ms after the last session went`,
      seconds: round((performance.now() - began) / 1000),
      facts: {
        ...left,
        settledOpen: settled.open,
        heapDelta: after.heapUsed - base.heapUsed,
        closes: after.closes.churn,
        opened: after.metrics.opened - base.metrics.opened,
      },
    };
  } finally {
    await server.stop();
  }
}

/**
 * Frozen clients: clients that connect and never read while the server pushes 1 MB/s to each,
 * next to fast clients (parsing every event) on the same server. Each frozen one must be closed with
 * "overflow", memory must stay bounded, and the fast ones must get every event.
 */
export async function frozen(
  mode: Mode,
  { clients, fast = 4 }: { clients: number; fast?: number },
): Promise<ScenarioResult> {
  const maxBufferedAmount = 256 * 1024;
  const server = await SoakServer.start({
    mode,
    keepAlive: 1000,
    maxBufferedAmount,
    // Long enough that the queue bound, not the send timeout, decides.
    sendTimeout: 60_000,
  });
  const fastClients: RawClient[] = [];
  const frozenClients: RawClient[] = [];
  try {
    const start = await server.stats(true);
    await server.call("resetPeak");
    for (let i = 0; i < fast; i++) {
      fastClients.push(connect(server.port, { path: "/events?kind=fast", parse: true }));
    }
    await Promise.all(fastClients.map(opened));
    const received = fastClients.map((client) => client.ids);
    for (let i = 0; i < clients; i++) {
      frozenClients.push(connect(server.port, { path: "/events?kind=frozen", frozen: true }));
    }
    await server.until((stats) => (stats.openByKind.frozen ?? 0) === clients, 15_000);
    // 100 KB every 100 ms: 1 MB/s to every stream.
    await server.call("broadcast", { interval: 100, bytes: 100 * 1024 });
    const began = performance.now();
    const done = await server.until(
      (stats) => Object.values(stats.closes.frozen ?? {}).reduce((a, b) => a + b, 0) === clients,
      90_000,
    );
    const detectedMs = performance.now() - began;
    // The fast clients keep going a little longer on their own.
    await delay(1000);
    await server.call("stopBroadcast");
    const sent = (await server.stats()).sequence;
    // Let the last events reach the fast clients.
    const lastId = sent - 1;
    const deadline = performance.now() + 10_000;
    while (received.some((ids) => ids.at(-1) !== lastId) && performance.now() < deadline) {
      await delay(50);
    }
    const stats = await server.stats(true);
    const gaps = received.map((ids) => {
      let missing = 0;
      for (let i = 1; i < ids.length; i++) missing += ids[i]! - ids[i - 1]! - 1;
      return missing + (lastId - (ids.at(-1) ?? -1));
    });
    let fastClosed = 0;
    for (const client of fastClients) {
      if (client.socket.destroyed) fastClosed++;
      client.socket.destroy();
    }
    for (const client of frozenClients) client.socket.destroy();
    const after = await server.until(
      (s) => s.open === 0 && leftOver(start.resources, s.resources) === 0,
      10_000,
      true,
    );
    const left = leaks(start, after);
    // Per stream: the target's queue (maxBufferedAmount) and one flushed chunk of at most the same
    // size in the socket's buffer; what sits in the kernel's socket buffers is not the process's.
    const bound = start.rss + (clients + fast) * 2 * maxBufferedAmount + 64 * MB;
    return {
      scenario: "frozen clients",
      mode,
      connections: clients + fast,
      events: stats.metrics.eventsSent - start.metrics.eventsSent,
      peakRssMB: toMB(stats.peakRss),
      heapDeltaMB: toMB(after.heapUsed - start.heapUsed),
      leakedHandles:
        left.handles + left.serverListeners + left.processListeners + left.busListeners,
      detection: `every frozen client closed ("overflow") within ${round(detectedMs / 1000)} s of the first push; RSS bound ${toMB(bound)} MB`,
      seconds: round((performance.now() - began) / 1000),
      facts: {
        ...left,
        frozenCloses: done.closes.frozen,
        fastCloses: stats.closes.fast ?? {},
        fastReceived: received.map((ids) => ids.length),
        gaps,
        fastClosed,
        peakRss: stats.peakRss,
        bound,
        boundMB: toMB(bound),
      },
    };
  } finally {
    for (const client of [...fastClients, ...frozenClients]) client.socket.destroy();
    await server.stop();
  }
}

/**
 * Half-open: clients that stop reading and never close (no FIN, no RST): to the server they look
 * exactly like a peer that vanished. The server keeps writing; once the kernel's buffers are full
 * nothing moves, and the send timeout (0.6 keep-alive interval without progress while bytes
 * wait) must close them. Node fires it between one and two timeouts after the last byte moved (it
 * postpones a timeout once when the write made headway since the timer was armed), so within two
 * keep-alive intervals.
 */
export async function halfOpen(
  mode: Mode,
  {
    clients,
    healthy = 2,
    keepAlive = 2000,
  }: { clients: number; healthy?: number; keepAlive?: number },
): Promise<ScenarioResult> {
  // Under an interval: Node fires between one and two timeouts after the last byte moved.
  const timeout = Math.round(keepAlive * 0.6);
  const server = await SoakServer.start({
    mode,
    keepAlive,
    // Large, so that the write timeout and not the queue bound detects them.
    maxBufferedAmount: 256 * MB,
    sendTimeout: timeout,
  });
  const all: RawClient[] = [];
  try {
    const start = await server.stats(true);
    await server.call("resetPeak");
    const good = Array.from({ length: healthy }, () =>
      connect(server.port, { path: "/events?kind=healthy" }),
    );
    const gone = Array.from({ length: clients }, () =>
      connect(server.port, { path: "/events?kind=halfopen&peer={peer}" }),
    );
    all.push(...good, ...gone);
    await Promise.all(all.map(opened));
    // 64 KB every 20 ms: the buffers of a client that stops reading fill within a few seconds.
    await server.call("broadcast", { interval: 20, bytes: 64 * 1024 });
    await delay(300);
    const began = performance.now();
    for (const client of gone) client.vanish();
    const done = await server.until((stats) => stats.detections.length === clients, 60_000);
    const detectedMs = performance.now() - began;
    const healthyBefore = good.map((client) => client.bytes);
    await delay(500);
    const healthyGrew = good.every((client, i) => client.bytes > healthyBefore[i]!);
    await server.call("stopBroadcast");
    const stats = await server.stats();
    for (const client of all) client.socket.destroy();
    const after = await server.until(
      (s) => s.open === 0 && leftOver(start.resources, s.resources) === 0,
      10_000,
      true,
    );
    const left = leaks(start, after);
    const latencies = done.detections.map((detection) => detection.sinceStall);
    const worst = Math.max(...latencies);
    return {
      scenario: "half-open",
      mode,
      connections: clients + healthy,
      events: stats.metrics.eventsSent - start.metrics.eventsSent,
      peakRssMB: toMB(stats.peakRss),
      heapDeltaMB: toMB(after.heapUsed - start.heapUsed),
      leakedHandles:
        left.handles + left.serverListeners + left.processListeners + left.busListeners,
      detection: `${Math.round(worst)} ms after the last byte moved (keep-alive ${keepAlive} ms, send timeout ${timeout} ms; ${round(detectedMs / 1000)} s after the clients stopped reading)`,
      seconds: round((performance.now() - began) / 1000),
      facts: {
        ...left,
        reasons: done.detections.map((detection) => detection.reason),
        latencies,
        worst,
        keepAlive,
        healthyGrew,
        healthyCloses: stats.closes.healthy ?? {},
      },
    };
  } finally {
    for (const client of all) client.socket.destroy();
    await server.stop();
  }
}

/** A hostile request and what the server answered. */
interface HostileCase {
  name: string;
  status: number;
  /** The first event of an /inspect answer: what the library read from the request. */
  seen?: { lastEventId: string; accepts: boolean; headerCount: number };
}

function header(name: string, value: string): string {
  return `${name}: ${value}`;
}

/**
 * Hostile input: headers no browser sends and dispatches no sane app makes. Each must get a clear
 * error or a bounded answer, and a stream open next to them must not notice.
 */
export async function hostile(mode: Mode): Promise<ScenarioResult> {
  const server = await SoakServer.start({ mode, keepAlive: 1000 });
  const bystander = connect(server.port, { path: "/events?kind=bystander" });
  try {
    const start = await server.stats(true);
    await opened(bystander);
    await server.call("broadcast", { interval: 50, bytes: 256 });
    const began = performance.now();
    const inspect = async (
      name: string,
      headerLines: string[] = [],
      raw?: Buffer,
    ): Promise<HostileCase> => {
      const { status, text } = await exchange(server.port, {
        path: "/inspect",
        headerLines: [...headerLines, "Connection: close"],
        ...(raw === undefined ? {} : { raw }),
      });
      const event = eventsOf(text)[0];
      return event === undefined
        ? { name, status }
        : { name, status, seen: JSON.parse(event.data) };
    };
    const rawRequest = (lines: (string | Buffer)[]): Buffer =>
      Buffer.concat(
        ["GET /inspect HTTP/1.1", "Host: 127.0.0.1", "Connection: close", ...lines, "", ""].flatMap(
          (line, i, list) => [
            typeof line === "string" ? Buffer.from(line, "latin1") : line,
            ...(i < list.length - 1 ? [Buffer.from("\r\n")] : []),
          ],
        ),
      );
    const cases: HostileCase[] = [];
    cases.push(await inspect("Last-Event-ID of 1 MB", [header("Last-Event-ID", "7".repeat(MB))]));
    cases.push(
      await inspect("Last-Event-ID of 8 KiB", [header("Last-Event-ID", "7".repeat(8192))]),
    );
    cases.push(
      await inspect("Last-Event-ID with NUL", [], rawRequest([Buffer.from("Last-Event-ID: a\0b")])),
    );
    cases.push(
      await inspect(
        "Last-Event-ID with a lone CR",
        [],
        rawRequest([Buffer.from("Last-Event-ID: a\rb")]),
      ),
    );
    cases.push(
      await inspect(
        "Last-Event-ID with a bare LF",
        [],
        rawRequest([Buffer.from("Last-Event-ID: a\nb")]),
      ),
    );
    cases.push(
      await inspect(
        "Last-Event-ID of invalid UTF-8",
        [],
        rawRequest([
          Buffer.concat([Buffer.from("Last-Event-ID: "), Buffer.from([0xff, 0xfe, 0x41])]),
        ]),
      ),
    );
    cases.push(
      await inspect("Accept of 600 q-values (10 KB)", [
        header("Accept", `${Array(600).fill("text/html;q=0.1").join(",")},text/event-stream`),
      ]),
    );
    cases.push(
      await inspect("malformed Accept", [
        header("Accept", ";;;,/,text/event-stream;q=abc,*/*;q=,x"),
      ]),
    );
    cases.push(
      await inspect("Accept of 1 MB", [
        header("Accept", `text/event-stream;q=0.5,${"a".repeat(MB)}`),
      ]),
    );
    cases.push(
      await inspect(
        "1,500 custom headers",
        Array.from({ length: 1500 }, (_, i) => header(`x${i}`, "1")),
      ),
    );
    cases.push(
      await inspect(
        "5,000 custom headers",
        Array.from({ length: 5000 }, (_, i) => header(`x${i}`, "1")),
      ),
    );
    const dispatches = await server.call<Record<string, unknown>>("hostile");
    const bytesBefore = bystander.bytes;
    await delay(300);
    const bystanderAlive = bystander.bytes > bytesBefore;
    await server.call("stopBroadcast");
    const stats = await server.stats();
    bystander.socket.destroy();
    const after = await server.until(
      (s) => s.open === 0 && leftOver(start.resources, s.resources) === 0,
      10_000,
      true,
    );
    const left = leaks(start, after);
    return {
      scenario: "hostile input",
      mode,
      connections: cases.length + 1,
      events: stats.metrics.eventsSent - start.metrics.eventsSent,
      peakRssMB: toMB(stats.peakRss),
      heapDeltaMB: toMB(after.heapUsed - start.heapUsed),
      leakedHandles:
        left.handles + left.serverListeners + left.processListeners + left.busListeners,
      detection: `n/a (the 100 MB dispatch was refused with RSS +${(dispatches as { rssGrowthMB: number }).rssGrowthMB} MB; peak RSS counts the test's own 100 MB string)`,
      seconds: round((performance.now() - began) / 1000),
      facts: {
        ...left,
        cases,
        dispatches,
        bystanderAlive,
        bystanderCloses: stats.closes.bystander ?? {},
      },
    };
  } finally {
    bystander.socket.destroy();
    await server.stop();
  }
}

/**
 * Graceful shutdown: many open streams, then the server's shutdown: every client gets a `retry:`
 * within [retry, retry + jitter] and a clean end, and the call resolves before its deadline.
 */
export async function shutdown(
  mode: Mode,
  { clients }: { clients: number },
): Promise<ScenarioResult> {
  const server = await SoakServer.start({ mode, keepAlive: 1000 });
  const all: RawClient[] = [];
  try {
    const start = await server.stats(true);
    for (let i = 0; i < clients; i++)
      all.push(connect(server.port, { path: "/events?kind=shutdown" }));
    await Promise.all(all.map(opened));
    await server.call("broadcast", { interval: 50, bytes: 64 });
    await delay(200);
    const options = { retry: 1000, jitter: 4000, deadline: 5000 };
    const result = await server.call<{ closed: number; aborted: number; ms: number }>(
      "shutdown",
      options,
    );
    await Promise.all(all.map((client) => Promise.race([client.closed, delay(5000)])));
    const stats = await server.stats(true);
    const retries = all.map((client) => {
      const match = /\nretry: (\d+)\n/.exec(client.head);
      return match === null ? -1 : Number(match[1]);
    });
    const endedCleanly = all.filter((client) => client.head.endsWith("0\r\n\r\n")).length;
    return {
      scenario: "graceful shutdown",
      mode,
      connections: clients,
      events: stats.metrics.eventsSent - start.metrics.eventsSent,
      peakRssMB: toMB(stats.peakRss),
      heapDeltaMB: toMB(stats.heapUsed - start.heapUsed),
      leakedHandles: 0,
      detection: `shutdown resolved in ${Math.round(result.ms)} ms`,
      seconds: round(result.ms / 1000),
      facts: {
        result,
        retries,
        distinctRetries: new Set(retries).size,
        endedCleanly,
        closes: stats.closes.shutdown ?? {},
        open: stats.open,
        errors: stats.errors,
        options,
      },
    };
  } finally {
    for (const client of all) client.socket.destroy();
    await server.stop();
  }
}
