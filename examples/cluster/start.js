/**
 * The cluster demo in one command: a local `redis-server` (or `REDIS_URL`), two instances and a
 * round-robin proxy, all on 127.0.0.1.
 *
 *   npm run build && node examples/cluster/start.js
 *
 * Open the printed URL: a clock ticks once a second, numbered, through whichever instance serves
 * the page. "Drop every stream" (or `curl -X POST <url>drop`) ends the streams; each browser
 * reconnects through the proxy, to the other instance, resumes there after its `Last-Event-ID`,
 * and the page counts no missed and no repeated tick. `PORT` sets the proxy's port (default 8000;
 * `0` picks a free one). Prints `listening on <url>`; Ctrl-C stops everything it started.
 *
 * @module
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const HERE = dirname(fileURLToPath(import.meta.url));
const children = [];
let dir;

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts a process and resolves with what its `ready` pattern captured. */
function start(name, command, args, ready, env = {}) {
  const child = spawn(command, args, {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let output = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = ready.exec(output);
      if (match) {
        output = "";
        ready = /$^/; // matched once
        resolve(match[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`${name} exited (${code})`)));
  });
}

function stopAll() {
  for (const child of children.reverse()) {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
}

async function redisUrl() {
  if (process.env.REDIS_URL) return process.env.REDIS_URL;
  try {
    execFileSync("redis-server", ["--version"], { stdio: "ignore" });
  } catch {
    console.error(
      "redis-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install redis-server;\n" +
        "macOS: brew install redis) or set REDIS_URL to a Redis you have, then run this again.",
    );
    process.exit(1);
  }
  const port = await freePort();
  dir = mkdtempSync(join(tmpdir(), "sendevents-cluster-"));
  await start(
    "redis-server",
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
    /(Ready to accept connections)/,
  );
  return `redis://127.0.0.1:${port}`;
}

try {
  const url = await redisUrl();
  const instance = join(HERE, "instance.js");
  const [a, b] = await Promise.all([
    start("instance a", process.execPath, [instance], /listening on (\S+)/, {
      REDIS_URL: url,
      NAME: "a",
      CLOCK: "1",
      PORT: "0",
    }),
    start("instance b", process.execPath, [instance], /listening on (\S+)/, {
      REDIS_URL: url,
      NAME: "b",
      PORT: "0",
    }),
  ]);
  const proxy = await start(
    "proxy",
    process.execPath,
    [join(HERE, "proxy.js")],
    /listening on (\S+)/,
    {
      UPSTREAMS: `${a},${b}`,
      PORT: process.env.PORT ?? "8000",
    },
  );
  console.log(`redis ${url}; instances ${a} and ${b}`);
  console.log(`listening on ${proxy}`);
} catch (error) {
  console.error(error.message);
  stopAll();
  process.exit(1);
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    stopAll();
    process.exit(0);
  });
}
