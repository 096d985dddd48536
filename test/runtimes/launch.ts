/**
 * The one launcher: every test that needs a server process starts it here, on 127.0.0.1 and a
 * free port, in a process group of its own. {@linkcode startServer} runs any command and waits
 * for the URL it prints; {@linkcode launch} runs a server entry on one runtime of
 * {@linkcode RUNTIMES}. Either way the result has the URL, the PID, what the process printed (in
 * every error), `stop()` (the whole group, SIGTERM then SIGKILL; call it in `afterAll`) and
 * `kill(signal)` (the process alone, to test its own shutdown). A server that fails to start is
 * killed before the error is thrown, and whatever is still running when the test process exits is
 * killed then. The runtime matrix (`./matrix.ts`) runs on what this starts:
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
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
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

/** How a server process ended: its exit code, or the signal that ended it. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A server process started by {@linkcode startServer}. */
export interface ServerProcess {
  /** What the server was called when started. */
  readonly name: string;
  /** The base URL, such as `http://127.0.0.1:41234/`. */
  readonly url: URL;
  /** The process ID; it also leads its own process group. */
  readonly pid: number;
  /** Everything the process has printed so far (stdout and stderr). */
  output(): string;
  /** Resolves once the process has exited and its output is read. */
  readonly exited: Promise<Exit>;
  /** Sends `signal` to the process alone, not its group: to test how it shuts down. */
  kill(signal?: NodeJS.Signals): void;
  /**
   * Ends the process and everything it started (its process group): SIGTERM, SIGKILL after 5 s;
   * resolves once it exited. Safe to call more than once, and after the process exited.
   */
  stop(): Promise<void>;
}

/** A server started by {@linkcode launch}. */
export interface LaunchedServer extends ServerProcess {
  /** The runtime it runs on. */
  readonly runtime: RuntimeName;
  /** The runtime's version, such as `v22.23.3` or `workerd 1.20260426.1 (miniflare 4.20260426.0)`. */
  readonly version: string;
}

/** How {@linkcode startServer} runs a process. */
export interface StartOptions {
  /** Added to the environment (which has `PORT=0` and `NO_COLOR=1`). */
  env?: Record<string, string>;
  /**
   * What the process prints once it listens; its first group is the URL.
   * @default /(?:listening on|Ready on) (http:\/\/\S+)/
   */
  ready?: RegExp;
  /**
   * Milliseconds the process may take to print it.
   * @default 60000
   */
  timeout?: number;
}

/** How {@linkcode launch} runs an entry, beyond {@linkcode StartOptions}. */
export interface LaunchOptions extends StartOptions {
  /** Arguments after the entry. */
  args?: string[];
  /** Arguments to the runtime before the entry, such as Deno's `--allow-read=<path>`. */
  runtimeArgs?: string[];
}

interface RuntimeSpec {
  /** The example this runtime serves when no entry is given. */
  entry: string;
  /** The executable and arguments that serve `entry`, given the runtime's own arguments. */
  command(entry: string, runtimeArgs: string[]): [string, string[]];
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

/** An executable of `node_modules/.bin`, such as `deno` or `bun`. */
export function bin(name: string): string {
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
    command: (entry, runtimeArgs) => [nodeBinary(major), [...runtimeArgs, entry]],
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
    command: (entry, runtimeArgs) => [
      bin("deno"),
      ["run", "--allow-net", "--allow-env=PORT", ...runtimeArgs, entry],
    ],
    version: () => run(bin("deno"), ["--version"]).split("\n")[0]!,
  },
  bun: {
    entry: "examples/bun/server.js",
    command: (entry, runtimeArgs) => [bin("bun"), [...runtimeArgs, entry]],
    version: () => `bun ${run(bin("bun"), ["--version"])}`,
  },
  workerd: {
    entry: "examples/cloudflare/worker.js",
    // miniflare 4 needs Node >= 22. The compatibility date and flags come from wrangler.toml.
    command: (entry, runtimeArgs) => [
      nodeBinary(22),
      [...runtimeArgs, join(ROOT, "test", "runtimes", "miniflare-server.mjs"), entry],
    ],
    version: () =>
      `workerd ${packageVersion("node_modules/miniflare/node_modules/workerd/package.json")} (miniflare ${packageVersion("node_modules/miniflare/package.json")})`,
  },
  edge: {
    entry: "examples/edge/handler.js",
    command: (entry, runtimeArgs) => [
      process.execPath,
      [...runtimeArgs, join(ROOT, "examples", "edge", "server.js"), entry],
    ],
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
export async function launch(
  runtime: RuntimeName,
  entry?: string,
  options: LaunchOptions = {},
): Promise<LaunchedServer> {
  const { args = [], runtimeArgs = [], ...start } = options;
  const spec = SPECS[runtime];
  const version = spec.version();
  const [file, runtimeArgv] = spec.command(join(ROOT, entry ?? spec.entry), runtimeArgs);
  const server = await startServer(runtime, file, [...runtimeArgv, ...args], start);
  return { ...server, runtime, version };
}

/** Every process started here that has not exited yet. */
const running = new Set<ChildProcess>();
// The last resort, should a suite end without stopping what it started (a crash, a missing
// afterAll): nothing outlives the test process.
process.once("exit", () => {
  for (const child of running) killGroup(child, "SIGKILL");
});

/**
 * Runs `file` with `args` from the repository root, with `PORT=0`, in a process group of its own,
 * and resolves once it prints its URL (`listening on <url>`, or wrangler's `Ready on <url>`).
 * When it does not, it is killed (with its group) and the error carries what it printed.
 *
 * @param name Names the server in error messages.
 * @returns The running server; call `stop()` when done (in `afterAll`).
 * @throws {Error} If the process cannot start, exits, or stays silent for `options.timeout` ms.
 */
export async function startServer(
  name: string,
  file: string,
  args: string[],
  options: StartOptions = {},
): Promise<ServerProcess> {
  const { env = {}, ready = READY, timeout = START_TIMEOUT } = options;
  // detached: the server gets its own process group, so stop() ends whatever it started too
  // (miniflare starts workerd).
  const child = spawn(file, args, {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, PORT: "0", WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", ...env },
  });
  running.add(child);
  let output = "";
  const onData = (chunk: Buffer): void => {
    output += chunk.toString("utf8").replace(ANSI, "");
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<Exit>((resolve) => {
    child.once("exit", (code, signal) => {
      running.delete(child);
      // "close" comes once the output is read too, unless something the process started holds
      // the pipes open: then a moment later is good enough.
      const timer = setTimeout(() => resolve({ code, signal }), 1_000);
      child.once("close", () => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
  });
  const url = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => {
      fail(new Error(`${name} did not print its URL within ${timeout} ms:\n${output}`));
    }, timeout);
    const onReady = (): void => {
      const match = ready.exec(output);
      if (!match) return;
      done();
      resolve(new URL("/", match[1]!));
    };
    const onExit = (code: number | null, signal: string | null): void => {
      fail(new Error(`${name} exited (${code ?? signal}) before it listened:\n${output}`));
    };
    const onError = (error: Error): void => {
      fail(new Error(`${name} did not start: ${error.message}\n${output}`, { cause: error }));
    };
    function done(): void {
      clearTimeout(timer);
      child.stdout!.off("data", onReady);
      child.stderr!.off("data", onReady);
      child.off("exit", onExit);
      child.off("error", onError);
    }
    function fail(error: Error): void {
      done();
      killGroup(child, "SIGKILL");
      reject(error);
    }
    // After onData, so that each chunk is in `output` when onReady looks.
    child.stdout!.on("data", onReady);
    child.stderr!.on("data", onReady);
    child.once("exit", onExit);
    child.once("error", onError);
  });
  let stopping: Promise<void> | undefined;
  return {
    name,
    url,
    pid: child.pid!,
    output: () => output,
    exited,
    kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
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

/** An ES module in a temporary directory, made by {@linkcode bundle}. */
export interface Bundle {
  /** Its absolute path. */
  readonly path: string;
  /** Removes it and its directory. */
  remove(): void;
}

/**
 * Bundles `entry` (relative to the repository root) and everything it imports into one ES module
 * with `bun build`, for a server script that imports an app by path (`test/hono/serve-*.mjs`).
 */
export function bundle(entry: string): Bundle {
  const dir = mkdtempSync(join(tmpdir(), "sendevents-bundle-"));
  const path = join(dir, "app.mjs");
  execFileSync(
    bin("bun"),
    ["build", join(ROOT, entry), "--target=browser", "--format=esm", `--outfile=${path}`],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] },
  );
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
