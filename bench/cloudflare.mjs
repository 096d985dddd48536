// The Durable Object benchmark: one room of sendevents/cloudflare (a ChannelObject, its history in
// SQLite) in local workerd (miniflare 4, test/runtimes/miniflare-server.mjs, under Node 22), beside an
// in-memory Channel on Node (bench/servers/cloudflare-baseline.mjs), in the same run. Both are
// driven the same way over 127.0.0.1: <clients> streams from a load-client process
// (bench/redis-client.mjs), and broadcasts as HTTP POSTs from this process, each stamped with
// this process's clock just before it is sent, so publish→receipt is POST sent → event read by a
// client (every 10th client sampled). The object's broadcasts are its RPC `broadcast`, called by
// the Worker for each POST. Prints a Markdown report.
//   npm run build && node bench/cloudflare.mjs [--clients 1000] [--rates 100,1000] [--seconds 3]
//     [--flat 2000] [--inflight 64] [--appends 5000] [--members 1000,2500,5000]
// A scenario whose clients are not all served within the load client's 60 s is reported as failed.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { now, payload } from "./shared.mjs";

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, "..");
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at === -1 ? fallback : args[at + 1];
};
const CLIENTS = Number(option("clients", 500));
const RATES = option("rates", "100,1000").split(",").map(Number);
const SECONDS = Number(option("seconds", 3));
const FLAT = Number(option("flat", 2000));
const INFLIGHT = Number(option("inflight", 64));
const APPENDS = Number(option("appends", 5000));
const MEMBERS = option("members", "1000,2500,5000").split(",").map(Number);
const NODE_22 = join(ROOT, "test/runtimes/node-versions/node_modules/node22/bin/node");
const children = new Set();

/** Spawns a process, resolves with it and the first stdout match of `ready`. */
function start(command, argv, ready, env = {}) {
  const child = spawn(command, argv, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, PORT: "0", ...env },
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return new Promise((resolve, reject) => {
    let output = "";
    const onData = (chunk) => {
      output += chunk;
      const match = ready.exec(output);
      if (match) {
        child.stdout.off("data", onData);
        resolve({ child, match, rest: output.slice(match.index + match[0].length) });
      }
    };
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`${command} exited (${code}):\n${output}`)));
  });
}

function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), 3000).unref();
  });
}

async function startBaseline() {
  const { child, match } = await start(
    process.execPath,
    [join(HERE, "servers/cloudflare-baseline.mjs")],
    /listening (\d+)/,
  );
  return { name: "memory", child, port: Number(match[1]) };
}

async function startRooms() {
  const { child, match } = await start(
    NODE_22,
    [
      join(ROOT, "test/runtimes/miniflare-server.mjs"),
      join(HERE, "servers/cloudflare-rooms.ts"),
      "Room=ROOMS",
    ],
    /listening on http:\/\/127\.0\.0\.1:(\d+)/,
  );
  const port = Number(match[1]);
  // Wakes the object, and gives the room one event: what a joining client is sent first.
  await publishOne(port, "ready");
  return { name: "durable object", child, port };
}

async function publishOne(port, data) {
  const response = await fetch(`http://127.0.0.1:${port}/publish-one`, {
    method: "POST",
    body: data,
  });
  if (response.status !== 200)
    throw new Error(`publish: ${response.status} ${await response.text()}`);
  await response.arrayBuffer();
}

/** Sends `count` broadcasts, `rate` per second (0: flat out), at most INFLIGHT at once. */
async function publish(port, count, rate) {
  const inFlight = new Set();
  const start = now();
  let failed = 0;
  for (let i = 0; i < count; i++) {
    if (rate > 0) {
      const wait = start + (i * 1000) / rate - now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    while (inFlight.size >= INFLIGHT) await Promise.race(inFlight);
    const sent = publishOne(port, payload(i, now())).catch(() => {
      failed++;
    });
    inFlight.add(sent);
    void sent.then(() => inFlight.delete(sent));
  }
  await Promise.all(inFlight);
  const seconds = (now() - start) / 1000;
  return { failed, broadcastsPerSecond: count / seconds };
}

/** Opens the load clients on `server`, publishes, and collects what they counted. */
async function run(server, count, rate, clients) {
  try {
    return await runOnce(server, count, rate, clients);
  } catch (error) {
    const last = String(error.message).trim().split("\n").pop();
    process.stderr.write(`  failed: ${last}\n`);
    return { failure: last };
  }
}

async function runOnce(server, count, rate, clients) {
  process.stderr.write(
    `${server.name}: ${clients} members, ${count} broadcasts at ${rate || "flat out"}/s\n`,
  );
  const load = await start(
    process.execPath,
    [join(HERE, "redis-client.mjs"), String(server.port), String(clients), String(count), "60000"],
    /ready\n/,
  );
  let output = load.rest;
  load.child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise((resolve) => load.child.once("exit", resolve));
  const published = await publish(server.port, count, rate);
  await exited;
  const result = JSON.parse(output.trim().split("\n").pop());
  // The clients are gone: wait until the server has let every member go before the next run.
  for (let i = 0; i < 200; i++) {
    const stats = await (await fetch(`http://127.0.0.1:${server.port}/stats`)).json();
    if (stats.members === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { ...result, deliveriesPerSecond: result.deliveries / result.seconds, ...published };
}

const fmt = (n, digits = 0) =>
  Number.isFinite(n) ? n.toLocaleString("en-US", { maximumFractionDigits: digits }) : "n/a";

async function main() {
  if (!existsSync(NODE_22)) {
    throw new Error(
      `Node 22 is missing at ${NODE_22}: run "bash scripts/setup.d/10-node-versions.sh"`,
    );
  }
  const rows = [];
  try {
    const memory = await startBaseline();
    const rooms = await startRooms();
    const both = [
      ["memory Channel (Node)", memory],
      ["Durable Object (workerd)", rooms],
    ];
    for (const rate of RATES) {
      const count = Math.round(rate * SECONDS);
      for (const [name, server] of both) {
        rows.push([
          `${name}, ${CLIENTS} members, ${rate}/s × ${count}`,
          await run(server, count, rate, CLIENTS),
        ]);
      }
    }
    for (const [name, server] of both) {
      rows.push([
        `${name}, ${CLIENTS} members, flat out × ${FLAT}`,
        await run(server, FLAT, 0, CLIENTS),
      ]);
    }
    for (const [name, server] of both) {
      rows.push([
        `${name}, 1 member, flat out × ${APPENDS} (broadcast path)`,
        await run(server, APPENDS, 0, 1),
      ]);
    }
    for (const members of MEMBERS) {
      rows.push([
        `Durable Object (workerd), ${members} members, 10/s × ${10 * SECONDS}`,
        await run(rooms, 10 * SECONDS, 10, members),
      ]);
    }
  } finally {
    await Promise.all([...children].map(stop));
  }
  console.log(
    `Node ${process.version} (driver, load client, baseline); workerd under miniflare ${
      JSON.parse(
        await import("node:fs").then((fs) =>
          fs.readFileSync(join(ROOT, "node_modules/miniflare/package.json"), "utf8"),
        ),
      ).version
    }; publish→receipt in ms\n`,
  );
  console.log("| scenario | deliveries | deliveries/s | p50 | p99 | broadcasts/s |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const [name, r] of rows) {
    if (r.failure !== undefined) {
      console.log(`| ${name} | failed: ${r.failure} | | | | |`);
      continue;
    }
    console.log(
      `| ${name} | ${fmt(r.deliveries)}/${fmt(r.expected)} | ${fmt(r.deliveriesPerSecond)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.broadcastsPerSecond)} |`,
    );
  }
}

await main();
