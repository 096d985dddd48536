/**
 * Starts a server entry on one runtime, in its own process on 127.0.0.1 and a free port, and
 * stops it again. The conformance suite (`test/conformance/`) runs on what this starts; other
 * suites can serve their own app with the same launchers by passing another entry:
 *
 * ```ts
 * const server = await launch("deno", "examples/hono/deno.js");
 * await fetch(new URL("/sse", server.url));
 * await server.stop();
 * ```
 *
 * What an entry is, per runtime (paths are relative to the repository root):
 * - `node18` … `node24`, `deno`, `bun`: a server script that listens on 127.0.0.1 and `PORT`
 *   (`0`: a free port) and prints `listening on <url>` (see `examples/node/server.js`).
 * - `workerd`: a Worker module (`export default { fetch }`), run in workerd by miniflare 4 under
 *   Node 22 with the top-level `wrangler.toml`'s compatibility date and flags
 *   (`test/runtimes/miniflare-server.mjs`).
 * - `edge`: an edge function module (a default-exported handler or `{ fetch }`), run in
 *   `@edge-runtime/vm` by `examples/edge/server.js`.
 *
 * Entries import the library as `sendevents`, which resolves to `dist/`: run `npm run build`
 * first (`npm test` does).
 *
 * @module
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The root of the repository. */
export const ROOT: string = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Every runtime the suite runs on. */
export const RUNTIMES = [
  "node18",
  "node20",
  "node22",
  "node24",
  "deno",
  "bun",
  "workerd",
  "edge",
] as const;

/** One of {@linkcode RUNTIMES}. */
export type RuntimeName = (typeof RUNTIMES)[number];

/** A server process started by {@linkcode startServer}. */
export interface ServerProcess {
  /** What the server was called when started. */
  readonly name: string;
  /** The base URL, such as `http://127.0.0.1:41234/`. */
  readonly url: URL;
  /** Everything the process has printed so far (stdout and stderr). */
  output(): string;
  /** Ends the process and everything it started (its process group); resolves once it exited. */
  stop(): Promise<void>;
}

/** A server started by {@linkcode launch}. */
export interface LaunchedServer extends ServerProcess {
  /** The runtime it runs on. */
  readonly runtime: RuntimeName;
  /** The runtime's version, such as `v22.23.3` or `workerd 1.20260426.1 (miniflare 4.20260426.0)`. */
  readonly version: string;
}

interface RuntimeSpec {
  /** The example this runtime serves when no entry is given. */
  entry: string;
  /** The executable and arguments that serve `entry`. */
  command(entry: string): [string, string[]];
  /** The runtime's version, read without starting a server. */
  version(): string;
}

const BIN = join(ROOT, "node_modules", ".bin");
/** How long a server may take to print its URL. */
const START_TIMEOUT = 60_000;
/** How long a stopped server may take to exit before it is killed. */
const STOP_TIMEOUT = 5_000;

/** The Node binary of one major version, installed by `scripts/setup.d/10-node-versions.sh`. */
export function nodeBinary(major: 18 | 20 | 22 | 24): string {
  const path = join(
    ROOT,
    "test",
    "runtimes",
    "node-versions",
    "node_modules",
    `node${major}`,
    "bin",
    "node",
  );
  if (!existsSync(path)) {
    throw new Error(
      `Node ${major} is missing at ${path}: run "bash scripts/setup.d/10-node-versions.sh" (npm test does)`,
    );
  }
  return path;
}

function binary(name: string): string {
  const path = join(BIN, name);
  if (!existsSync(path)) throw new Error(`${name} is missing at ${path}: run "npm ci"`);
  return path;
}

function run(file: string, args: string[]): string {
  return execFileSync(file, args, { encoding: "utf8" }).trim();
}

function packageVersion(path: string): string {
  return (JSON.parse(readFileSync(join(ROOT, path), "utf8")) as { version: string }).version;
}

function node(major: 18 | 20 | 22 | 24): RuntimeSpec {
  return {
    entry: "examples/node/server.js",
    command: (entry) => [nodeBinary(major), [entry]],
    version: () => run(nodeBinary(major), ["--version"]),
  };
}

const SPECS: Record<RuntimeName, RuntimeSpec> = {
  node18: node(18),
  node20: node(20),
  node22: node(22),
  node24: node(24),
  deno: {
    entry: "examples/deno/server.js",
    command: (entry) => [binary("deno"), ["run", "--allow-net", "--allow-env=PORT", entry]],
    version: () => run(binary("deno"), ["--version"]).split("\n")[0]!,
  },
  bun: {
    entry: "examples/bun/server.js",
    command: (entry) => [binary("bun"), [entry]],
    version: () => `bun ${run(binary("bun"), ["--version"])}`,
  },
  workerd: {
    entry: "examples/cloudflare/worker.js",
    // miniflare 4 needs Node >= 22. The compatibility date and flags come from wrangler.toml.
    command: (entry) => [
      nodeBinary(22),
      [join(ROOT, "test", "runtimes", "miniflare-server.mjs"), entry],
    ],
    version: () =>
      `workerd ${packageVersion("node_modules/miniflare/node_modules/workerd/package.json")} (miniflare ${packageVersion("node_modules/miniflare/package.json")})`,
  },
  edge: {
    entry: "examples/edge/handler.js",
    command: (entry) => [process.execPath, [join(ROOT, "examples", "edge", "server.js"), entry]],
    version: () =>
      `@edge-runtime/vm ${packageVersion("node_modules/@edge-runtime/vm/package.json")} on Node ${process.version}`,
  },
};

/** The example server a runtime runs when {@linkcode launch} is given no entry. */
export function defaultEntry(runtime: RuntimeName): string {
  return SPECS[runtime].entry;
}

/** Colour codes, which some runtimes print even when not on a terminal. */
const ANSI = /\x1b\[[0-9;]*m/g;
/** `listening on <url>` from our servers, `Ready on <url>` from `wrangler dev`. */
const READY = /(?:listening on|Ready on) (http:\/\/\S+)/;

/**
 * Starts `entry` on `runtime` and resolves once it listens.
 *
 * @param runtime Which runtime to run.
 * @param entry The server entry, relative to the repository root; the runtime's example if omitted.
 * @returns The running server; call `stop()` when done (in `afterAll`).
 * @throws {Error} If the runtime is not installed, or the server exits or stays silent for a minute.
 */
export async function launch(runtime: RuntimeName, entry?: string): Promise<LaunchedServer> {
  const spec = SPECS[runtime];
  const version = spec.version();
  const [file, args] = spec.command(join(ROOT, entry ?? spec.entry));
  const server = await startServer(runtime, file, args);
  return { ...server, runtime, version };
}

/**
 * Runs `file` with `args` from the repository root, with `PORT=0`, and resolves once it prints
 * `listening on <url>` (or wrangler's `Ready on <url>`).
 *
 * @param name Names the server in error messages.
 * @returns The running server; call `stop()` when done.
 * @throws {Error} If the process exits or stays silent for a minute.
 */
export async function startServer(
  name: string,
  file: string,
  args: string[],
): Promise<ServerProcess> {
  // detached: the server gets its own process group, so stop() ends whatever it started too
  // (miniflare starts workerd).
  const child = spawn(file, args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORT: "0", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1" },
  });
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => {
      fail(new Error(`${name} did not print its URL within ${START_TIMEOUT} ms:\n${output}`));
    }, START_TIMEOUT);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8").replace(ANSI, "");
      const match = READY.exec(output);
      if (match) {
        clearTimeout(timer);
        child.off("exit", onExit);
        resolve(new URL("/", match[1]!));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      fail(new Error(`${name} exited (${code ?? signal}) before it listened:\n${output}`));
    };
    function fail(error: Error): void {
      clearTimeout(timer);
      child.off("exit", onExit);
      killGroup(child, "SIGKILL");
      reject(error);
    }
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", onExit);
    child.once("error", (error) => fail(error));
  });
  let stopping: Promise<void> | undefined;
  return {
    name,
    url,
    output: () => output,
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          killGroup(child, "SIGTERM");
          const timer = setTimeout(() => killGroup(child, "SIGKILL"), STOP_TIMEOUT);
          await exited;
          clearTimeout(timer);
        }
        // Whatever the server started and left behind (workerd under miniflare) goes too.
        killGroup(child, "SIGKILL");
      })();
      return stopping;
    },
  };
}

/** Signals the process group `child` leads (it was spawned detached). */
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}
