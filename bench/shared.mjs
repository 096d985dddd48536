// What every bench server sends, so that each does the same work: one event per message, whose
// data is "<dispatch time in ms> <index> <padding>". The load client counts events by their
// "data: " lines and reads the dispatch time back for latency.
export const PAD = "x".repeat(48);

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function now() {
  return performance.timeOrigin + performance.now();
}

export function payload(i, t = 0) {
  return `${t} ${i} ${PAD}`;
}

// Garbage-collection pauses, where the runtime reports them: Node's perf_hooks "gc" entries.
// Deno and Bun report none, and their servers leave the figure out.
let gcMicros;
if (typeof globalThis.Deno === "undefined" && typeof globalThis.Bun === "undefined") {
  const { PerformanceObserver } = await import("node:perf_hooks");
  gcMicros = 0;
  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMicros += entry.duration * 1000;
  }).observe({ entryTypes: ["gc"] });
}

/** The server's own counters, for /stats. */
export function stats(extra = {}) {
  const memory = process.memoryUsage();
  const cpu = process.cpuUsage();
  return JSON.stringify({
    rss: memory.rss,
    heapUsed: memory.heapUsed,
    cpu: cpu.user + cpu.system,
    gc: gcMicros,
    ...extra,
  });
}

/** Prints the bound port on stdout: the bench runner waits for this line. */
export function announce(port) {
  process.stdout.write(`listening ${port}\n`);
}

/**
 * The path of a request URL, by string search as routers do (Hono's getPath, raw's split): a fetch
 * handler sees the whole URL, and parsing it with `new URL` would be work the others skip.
 */
export function pathOf(url) {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  const end = url.indexOf("?", start);
  return end === -1 ? url.slice(start) : url.slice(start, end);
}

export function query(url, name, fallback) {
  const value = new URL(url, "http://x").searchParams.get(name);
  return value === null ? fallback : Number(value);
}

/** Runs a full garbage collection where the runtime allows it (node --expose-gc, Bun, Deno's V8 flag). */
export function collect() {
  if (typeof globalThis.gc === "function") globalThis.gc();
  else globalThis.Bun?.gc(true);
}
