// The server of the soak scenarios, in its own process, so that what it reports (heap, handles,
// timers, listeners, warnings) is its own and not the test runner's. Started by soak.ts with
// `node --expose-gc test/soak/server.mjs` and an IPC channel; configured by SOAK_CONFIG (JSON).
//
// mode "node":  sendevents/node serve(), the adapter's direct-to-socket path (over h2c with
//               http2: true).
// mode "fetch": the same handler behind @hono/node-server: the pure Request/Response path.
//
// Routes: /events?kind=K opens an event stream fed by the broadcaster; /inspect answers one event
// describing what the library read from the request (for hostile headers); /plain answers text.
import { getEventListeners, setMaxListeners } from "node:events";
import { serve as honoServe } from "@hono/node-server";
import { serve } from "../../dist/adapters/node.js";
import {
  acceptsEventStream,
  metrics,
  ServerSentEvent,
  StreamGroup,
  sendEvents,
} from "../../dist/src/index.js";

const config = JSON.parse(process.env.SOAK_CONFIG ?? "{}");
const mode = config.mode ?? "node";
const streamOptions = {
  keepAlive: config.keepAlive ?? 5000,
  maxBufferedAmount: config.maxBufferedAmount ?? 1024 * 1024,
};

const warnings = [];
const errors = [];
process.on("warning", (warning) => warnings.push(`${warning.name}: ${warning.message}`));
process.on("unhandledRejection", (reason) => {
  errors.push(`unhandledRejection: ${reason instanceof Error ? reason.stack : String(reason)}`);
});
process.on("uncaughtException", (error) => {
  errors.push(`uncaughtException: ${error instanceof Error ? error.stack : String(error)}`);
});

/** The shared object every stream listens on: its listener count must return to 0. */
const bus = new EventTarget();
// Thousands of streams listen on it by design: without this, Node warns past 10 listeners.
setMaxListeners(0, bus);
/** The app's own registry, used on the fetch path (the Node adapter keeps one itself). */
const group = new StreamGroup();
/** Open streams by kind; closes by kind and reason; half-open detection latencies. */
const open = new Map();
const closes = {};
const detections = [];
let current;
let sequence = 0;

function handler(request) {
  const url = new URL(request.url);
  if (url.pathname === "/events") {
    const kind = url.searchParams.get("kind") ?? "stream";
    const { response, target } = sendEvents(request, streamOptions);
    const stream = { kind, opened: performance.now(), peer: url.searchParams.get("peer") };
    if (kind === "halfopen") watched.add(stream.peer);
    open.set(target, stream);
    group.track(target);
    const onTick = () => target.dispatchEvent(current);
    bus.addEventListener("tick", onTick);
    target.addEventListener("close", (event) => {
      bus.removeEventListener("tick", onTick);
      open.delete(target);
      closes[kind] ??= {};
      closes[kind][event.reason] = (closes[kind][event.reason] ?? 0) + 1;
      if (kind === "halfopen") {
        const progress = sockets.get(stream.peer);
        watched.delete(stream.peer);
        sockets.delete(stream.peer);
        detections.push({
          reason: event.reason,
          sinceStall: performance.now() - (progress?.changed ?? Number.NaN),
          sinceOpen: performance.now() - stream.opened,
        });
      }
    });
    target.dispatchMessage("ready");
    return response;
  }
  if (url.pathname === "/inspect") {
    const { response, target } = sendEvents(request, streamOptions);
    let headerCount = 0;
    for (const _ of request.headers) headerCount++;
    target.dispatchMessage({
      lastEventId: target.lastEventId,
      accepts: acceptsEventStream(request),
      headerCount,
    });
    void target.close();
    return response;
  }
  return new Response("ok");
}

let broadcaster;
function startBroadcast({ interval, bytes }) {
  stopBroadcast();
  const payload = "x".repeat(bytes);
  broadcaster = setInterval(() => {
    // One event, encoded once, sent to every open stream.
    current = new ServerSentEvent("message", payload, { id: sequence++ });
    bus.dispatchEvent(new Event("tick"));
  }, interval);
}
function stopBroadcast() {
  clearInterval(broadcaster);
  broadcaster = undefined;
}

/**
 * For half-open streams: when each connection last moved a byte out of the process. Sampled every
 * 10 ms from what Node and libuv still hold for the socket; the client names its address and port
 * in the URL.
 */
const sockets = new Map();
const watched = new Set();
setInterval(() => {
  for (const peer of watched) {
    const entry = sockets.get(peer);
    // A destroyed socket's buffers are dropped: that is the detection, not progress.
    if (entry === undefined || entry.socket.destroyed) continue;
    const pending = entry.socket.writableLength + (entry.socket._handle?.writeQueueSize ?? 0);
    if (pending !== entry.pending) {
      entry.pending = pending;
      entry.changed = performance.now();
    }
  }
}, 10);

let peakRss = process.memoryUsage.rss();
setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 50);

async function collectGarbage() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function countBy(names) {
  const counts = {};
  for (const name of names) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

function listenerCounts(emitter) {
  const counts = {};
  for (const name of emitter.eventNames()) counts[String(name)] = emitter.listenerCount(name);
  return counts;
}

let app;
let httpServer;
if (mode === "node") {
  app = await serve(handler, {
    sendTimeout: config.sendTimeout ?? 10_000,
    http2: config.http2 ?? false,
  });
  httpServer = app.server;
} else {
  httpServer = await new Promise((resolve) => {
    const server = honoServe({ fetch: handler, port: 0, hostname: "127.0.0.1" }, () =>
      resolve(server),
    );
  });
  // What sendevents/node does with its sendTimeout option, done by hand for another Node server:
  // when an event stream's connection has moved no byte for that long (Node postpones the timeout
  // while a write makes headway) and bytes are waiting, the client is gone.
  if (config.sendTimeout !== undefined) {
    httpServer.on("request", (req, res) => {
      if (!req.url.startsWith("/events")) return;
      res.setTimeout(config.sendTimeout, () => {
        if (res.writableLength > 0) res.destroy();
      });
    });
  }
}
httpServer.on("connection", (socket) => {
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  sockets.set(peer, { socket, pending: 0, changed: performance.now() });
  // A watched entry goes when its stream's close is recorded, which comes after the socket's.
  socket.once("close", () => watched.has(peer) || sockets.delete(peer));
});

/** Inputs a careless or hostile app might dispatch, run on a stream nobody reads. */
function hostileDispatches() {
  const results = {};
  const { target } = sendEvents(new Request("http://localhost/"), streamOptions);
  const attempt = (name, run) => {
    try {
      results[name] = { returned: run() };
    } catch (error) {
      results[name] = { threw: error.constructor.name, message: String(error.message) };
    }
  };
  attempt("toJSON throws", () =>
    target.dispatchMessage({
      toJSON() {
        throw new Error("boom");
      },
    }),
  );
  attempt("cyclic object", () => {
    const cyclic = {};
    cyclic.self = cyclic;
    return target.dispatchMessage(cyclic);
  });
  attempt("BigInt", () => target.dispatchMessage(10n));
  attempt("event type with LF", () => target.dispatchEvent(new ServerSentEvent("a\nb", "x")));
  attempt("id with NUL", () => target.dispatchMessage("x", { id: "a\0b" }));
  const openAfterMistakes = !target.closed;
  // A flat 100 MB string, as JSON.stringify or a file read makes ("x".repeat() makes a small rope).
  const huge = Buffer.alloc(100 * 1024 * 1024, "x").toString("latin1");
  const before = process.memoryUsage().rss;
  attempt("100 MB string", () => target.dispatchMessage(huge));
  results.rssGrowthMB = Math.round((process.memoryUsage().rss - before) / 1e6);
  results.openAfterMistakes = openAfterMistakes;
  results.closedAfterHuge = target.closed;
  return results;
}

const commands = {
  async stats({ gc = false } = {}) {
    if (gc) await collectGarbage();
    const memory = process.memoryUsage();
    return {
      metrics: JSON.parse(JSON.stringify(metrics)),
      open: open.size,
      openByKind: countBy([...open.values()].map((stream) => stream.kind)),
      groupSize: group.size,
      appStreams: app?.streams?.size ?? 0,
      busListeners: getEventListeners(bus, "tick").length,
      serverListeners: listenerCounts(httpServer),
      processListeners: listenerCounts(process),
      connections: await new Promise((resolve) =>
        httpServer.getConnections((_, count) => resolve(count)),
      ),
      resources: countBy(process.getActiveResourcesInfo()),
      heapUsed: memory.heapUsed,
      external: memory.external + memory.arrayBuffers,
      rss: memory.rss,
      peakRss,
      warnings,
      errors,
      closes,
      detections,
      sequence,
    };
  },
  resetPeak() {
    peakRss = process.memoryUsage.rss();
    return peakRss;
  },
  broadcast(args) {
    startBroadcast(args);
    return true;
  },
  stopBroadcast() {
    stopBroadcast();
    return true;
  },
  hostile() {
    return hostileDispatches();
  },
  async shutdown(args) {
    const started = performance.now();
    let result;
    if (app !== undefined) result = await app.shutdown(args);
    else {
      result = await group.closeAll(args);
      await new Promise((resolve) => httpServer.close(resolve));
    }
    stopBroadcast();
    return { ...result, ms: performance.now() - started };
  },
};

process.on("message", async ({ id, command, args }) => {
  try {
    process.send({ id, result: await commands[command](args) });
  } catch (error) {
    process.send({ id, error: error instanceof Error ? error.stack : String(error) });
  }
});
process.send({ ready: true, port: httpServer.address().port, pid: process.pid });
