// The Redis store's benchmark: two instances × <clients> streams on one Redis against one
// instance on the in-memory store, in the same run; each instance and each load client in its own
// process on 127.0.0.1. Starts its own redis-server (--save '' --appendonly no) unless REDIS_URL
// is set. Prints a Markdown report.
//   npm run build && node bench/redis.mjs [--clients 1000] [--rates 100,1000] [--seconds 3]
//     [--flat 2000] [--appends 20000]
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { children, start, stop } from "./launch.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : args[at + 1];
};
const CLIENTS = Number(option("clients", 1000));
const RATES = option("rates", "100,1000").split(",").map(Number);
const SECONDS = Number(option("seconds", 3));
const FLAT = Number(option("flat", 2000));
const APPENDS = Number(option("appends", 20_000));
function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startInstance(mode, redisUrl) {
  const { child, match } = await start(
    process.execPath,
    [join(HERE, "servers/sendevents-redis.mjs")],
    /listening (\d+)/,
    { MODE: mode, REDIS_URL: redisUrl ?? "", PORT: "0" },
  );
  return { child, port: Number(match[1]) };
}

/** Opens the load clients, publishes through `via`, and collects every client's result. */
async function run(instances, via, count, rate, clients) {
  const loads = await Promise.all(
    instances.map(async (instance) => {
      const load = await start(
        process.execPath,
        [join(HERE, "redis-client.mjs"), String(instance.port), String(clients), String(count)],
        /ready\n/,
      );
      let output = load.rest;
      const result = new Promise((resolve) => {
        load.child.stdout.on("data", (chunk) => {
          output += chunk;
        });
        load.child.once("exit", () => resolve(JSON.parse(output.trim().split("\n").pop())));
      });
      return { result }; // not the promise itself: Promise.all would wait for it
    }),
  );
  const response = await fetch(`http://127.0.0.1:${via.port}/publish?count=${count}&rate=${rate}`, {
    method: "POST",
  });
  const published = await response.json();
  const results = await Promise.all(loads.map((load) => load.result));
  const deliveries = results.reduce((sum, r) => sum + r.deliveries, 0);
  const expected = results.reduce((sum, r) => sum + r.expected, 0);
  const seconds = Math.max(...results.map((r) => r.seconds));
  return {
    deliveries,
    expected,
    deliveriesPerSecond: deliveries / seconds,
    p50: Math.max(...results.map((r) => r.p50)),
    p99: Math.max(...results.map((r) => r.p99)),
    broadcastsPerSecond: published.broadcastsPerSecond,
    failed: published.failed,
  };
}

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits }) : "n/a";

async function main() {
  let redisUrl = process.env.REDIS_URL;
  let redis;
  let dir;
  if (redisUrl === undefined) {
    const port = await freePort();
    dir = mkdtempSync(join(tmpdir(), "sendevents-bench-redis-"));
    redis = (
      await start(
        "redis-server",
        [
          "--port",
          String(port),
          "--bind",
          "127.0.0.1",
          "--save",
          "",
          "--appendonly",
          "no",
          "--dir",
          dir,
        ],
        /Ready to accept connections/,
      )
    ).child;
    redisUrl = `redis://127.0.0.1:${port}`;
  }
  const rows = [];
  try {
    const memory = await startInstance("memory");
    const a = await startInstance("redis", redisUrl);
    const b = await startInstance("redis", redisUrl);
    for (const rate of RATES) {
      const count = Math.round(rate * SECONDS);
      const single = await run([memory], memory, count, rate, CLIENTS);
      rows.push([`memory, 1 instance × ${CLIENTS}, ${rate}/s × ${count}`, single]);
      // The Redis hop alone: one instance on Redis, as many streams as the baseline.
      const hop = await run([a], a, count, rate, CLIENTS);
      rows.push([`redis, 1 instance × ${CLIENTS}, ${rate}/s × ${count}`, hop]);
      const shared = await run([a, b], a, count, rate, CLIENTS);
      rows.push([`redis, 2 instances × ${CLIENTS}, ${rate}/s × ${count}`, shared]);
    }
    rows.push([
      `memory, 1 instance × ${CLIENTS}, flat out × ${FLAT}`,
      await run([memory], memory, FLAT, 0, CLIENTS),
    ]);
    rows.push([
      `redis, 2 instances × ${CLIENTS}, flat out × ${FLAT}`,
      await run([a, b], a, FLAT, 0, CLIENTS),
    ]);
    rows.push([
      `redis, 2 instances × 1, flat out × ${APPENDS} (append pipeline)`,
      await run([a, b], a, APPENDS, 0, 1),
    ]);
    await Promise.all([memory, a, b].map((instance) => stop(instance.child)));
  } finally {
    await Promise.all([...children].filter((child) => child !== redis).map(stop));
    if (redis) await stop(redis);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
  console.log(`Node ${process.version}; publish→receipt in ms (the worse of the instances)\n`);
  console.log("| scenario | deliveries | deliveries/s | p50 | p99 | broadcasts/s |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [name, r] of rows) {
    console.log(
      `| ${name} | ${fmt(r.deliveries)}/${fmt(r.expected)} | ${fmt(r.deliveriesPerSecond)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.broadcastsPerSecond)} |`,
    );
  }
}

await main();
