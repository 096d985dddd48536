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
//     [--hibernating] [--idle-clients 100] [--idle-seconds 20]
// --hibernating adds, in the same run, the bench-only hibernation layout
// (bench/servers/cloudflare-rooms-hibernating.ts: the Worker holds each client's stream, the object
// reached over one hibernatable WebSocket per stream) as rows beside the simple layout's, and an
// idle probe of both: <idle-clients> streams open, no broadcast for <idle-seconds>, then one; it
// reports what the object holds while idle and whether workerd evicted it (the `instance` id of
// /stats changes when the object is constructed again).
// A scenario whose clients are not all served within the load client's 60 s is reported as failed.
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { children, start as launch, stop } from "./launch.mjs";
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
const HIBERNATING = args.includes("--hibernating");
const IDLE_CLIENTS = Number(option("idle-clients", 100));
const IDLE_SECONDS = Number(option("idle-seconds", 20));
const NODE_22 = join(ROOT, "test/runtimes/node-versions/node_modules/node22/bin/node");
/** Every process here gets `PORT=0`: a free port, announced on stdout. */
const start = (command, argv, ready, env = {}) =>
  launch(command, argv, ready, { PORT: "0", ...env });

async function startBaseline() {
  const { child, match } = await start(
    process.execPath,
    [join(HERE, "servers/cloudflare-baseline.mjs")],
    /listening (\d+)/,
  );
  return { name: "memory", child, port: Number(match[1]) };
}

async function startRooms(
  file = "servers/cloudflare-rooms.ts",
  name = "durable object",
  classes = ["Room=ROOMS"],
) {
  const { child, match } = await start(
    NODE_22,
    [join(ROOT, "test/runtimes/miniflare-server.mjs"), join(HERE, file), ...classes],
    /listening on http:\/\/127\.0\.0\.1:(\d+)/,
  );
  const port = Number(match[1]);
  // Wakes the object, and gives the room one event: what a joining client is sent first.
  await publishOne(port, "ready");
  return { name, child, port };
}

const stats = async (port) => (await fetch(`http://127.0.0.1:${port}/stats`)).json();

/**
 * <IDLE_CLIENTS> streams joined, then no broadcast for IDLE_SECONDS, then one: what the object
 * holds while idle, whether workerd evicted it meanwhile, and whether the broadcast after it
 * reached every stream.
 */
async function idle(server) {
  process.stderr.write(`${server.name}: idle probe, ${IDLE_CLIENTS} members, ${IDLE_SECONDS} s\n`);
  const load = await start(
    process.execPath,
    [join(HERE, "redis-client.mjs"), String(server.port), String(IDLE_CLIENTS), "1", "120000"],
    /ready\n/,
  );
  let output = load.rest;
  load.child.stdout.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise((resolve) => load.child.once("exit", resolve));
  const before = await stats(server.port);
  await new Promise((resolve) => setTimeout(resolve, IDLE_SECONDS * 1000));
  const after = await stats(server.port);
  await publishOne(server.port, payload(0, now()));
  await exited;
  const result = JSON.parse(output.trim().split("\n").pop());
  for (let i = 0; i < 200; i++) {
    if ((await stats(server.port)).members === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    members: before.members,
    evicted: before.instance !== after.instance,
    rebuiltAfter:
      after.instance === before.instance ? undefined : after.constructedAt - before.constructedAt,
    membersAfter: after.members,
    deliveries: result.deliveries,
    expected: result.expected,
  };
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
  const idles = [];
  try {
    const memory = await startBaseline();
    const rooms = await startRooms();
    const both = [
      ["memory Channel (Node)", memory],
      ["Durable Object (workerd)", rooms],
    ];
    const objects = [["Durable Object (workerd)", rooms]];
    if (HIBERNATING) {
      const hibernating = await startRooms(
        "servers/cloudflare-rooms-hibernating.ts",
        "hibernating object",
        ["HibernatingRoom=HIBERNATING"],
      );
      both.push(["hibernating DO + Worker streams (workerd)", hibernating]);
      objects.push(["hibernating DO + Worker streams (workerd)", hibernating]);
    }
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
      for (const [name, server] of objects) {
        rows.push([
          `${name}, ${members} members, 10/s × ${10 * SECONDS}`,
          await run(server, 10 * SECONDS, 10, members),
        ]);
      }
    }
    if (HIBERNATING) {
      for (const [name, server] of objects) idles.push([name, await idle(server)]);
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
  if (idles.length === 0) return;
  console.log(
    `\nIdle probe: ${IDLE_CLIENTS} streams open, no broadcast for ${IDLE_SECONDS} s, then one\n`,
  );
  console.log(
    "| layout | members while idle | evicted while idle | members after | delivered after |",
  );
  console.log("|---|---:|---|---:|---:|");
  for (const [name, r] of idles) {
    const evicted = r.evicted ? `yes (rebuilt ${fmt(r.rebuiltAfter / 1000, 1)} s later)` : "no";
    console.log(
      `| ${name} | ${r.members} | ${evicted} | ${r.membersAfter} | ${fmt(r.deliveries)}/${fmt(r.expected)} |`,
    );
  }
}

await main();
