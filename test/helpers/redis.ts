/**
 * Real processes for the Redis suite: a `redis-server` of its own on a free 127.0.0.1 port, app
 * instances (`test/redis/instance.js`) on Node, Deno or Bun (started by the test launcher,
 * `test/runtimes/launch.ts`), and SSE clients that resume with `Last-Event-ID` and record every
 * event. Everything started here is stopped by its PID.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createParser } from "eventsource-parser";
import { bin, nodeBinary, ROOT, startServer } from "../runtimes/launch.ts";

/** A free TCP port on 127.0.0.1 (free when asked: the caller binds it at once). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Waits until `child` prints a line matching `ready`; rejects if it exits or times out. */
function waitFor(child: ChildProcess, ready: RegExp, name: string, ms = 20_000) {
  let output = "";
  return new Promise<RegExpExecArray>((resolve, reject) => {
    const timer = setTimeout(
      () => done(new Error(`${name} not ready in ${ms} ms:\n${output}`)),
      ms,
    );
    const onData = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
      const match = ready.exec(output);
      if (match) done(undefined, match);
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${output}`));
    };
    function done(error?: Error, match?: RegExpExecArray): void {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      if (error) reject(error);
      else resolve(match!);
    }
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** A `redis-server` started by {@linkcode startRedis}. */
export interface RedisServer {
  readonly port: number;
  readonly url: string;
  /** The running server's PID. */
  pid(): number;
  /** `kill -9`, then waits for the exit. */
  kill(): Promise<void>;
  /** Starts it again on the same port and directory (empty unless `persistence`). */
  restart(): Promise<void>;
  /** Stops it for good and removes its directory. */
  stop(): Promise<void>;
}

/**
 * Starts `redis-server` on a free port, `--save '' --appendonly no` (or AOF with
 * `appendfsync always` when `persistence`), in a temporary `--dir`.
 */
export async function startRedis(options: { persistence?: boolean } = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "sendevents-redis-"));
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", ""];
  args.push(
    ...(options.persistence
      ? ["--appendonly", "yes", "--appendfsync", "always"]
      : ["--appendonly", "no"]),
  );
  let child: ChildProcess;
  async function start(): Promise<void> {
    child = spawn("redis-server", args, { stdio: ["ignore", "pipe", "pipe"] });
    await waitFor(child, /Ready to accept connections/, "redis-server");
    child.stdout?.resume();
    child.stderr?.resume();
  }
  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    pid: () => child.pid!,
    async kill() {
      child.kill("SIGKILL");
      await exited(child);
    },
    restart: start,
    async stop() {
      child.kill("SIGKILL");
      await exited(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The runtimes an instance runs on. */
export type InstanceRuntime = "node" | "node18" | "deno" | "bun";

/** An app instance started by {@linkcode startInstance}. */
export interface Instance {
  readonly url: URL;
  readonly pid: number;
  /** Sends `signal` (SIGKILL by default) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Broadcasts `count` events through this instance, `rate` per second (0: flat out). */
  publish(
    count: number,
    rate?: number,
    key?: string,
  ): Promise<{ ok: number; failed: number; first?: string; last?: string; error?: string }>;
  /** Channel sizes. */
  stats(): Promise<{ members: Record<string, number> }>;
}

function command(runtime: InstanceRuntime): [string, string[]] {
  const entry = join(ROOT, "test/redis/instance.js");
  if (runtime === "deno") {
    return [bin("deno"), ["run", "-A", entry]];
  }
  if (runtime === "bun") return [bin("bun"), [entry]];
  // node-redis 5 needs Node 18.19 or later: the floor, installed by scripts/setup.d/10-node-versions.sh.
  if (runtime === "node18") return [nodeBinary(18), [entry]];
  return [process.execPath, [entry]];
}

/** Starts an instance on `runtime` against `redisUrl`. */
export async function startInstance(
  runtime: InstanceRuntime,
  redisUrl: string,
  env: Record<string, string> = {},
): Promise<Instance> {
  const [file, args] = command(runtime);
  const server = await startServer(`${runtime} instance`, file, args, {
    env: { REDIS_URL: redisUrl, ...env },
    timeout: 30_000,
  });
  const { url } = server;
  return {
    url,
    pid: server.pid,
    async kill(signal = "SIGKILL") {
      server.kill(signal);
      await server.exited;
    },
    async publish(count, rate = 0, key = "room") {
      const response = await fetch(
        new URL(`/publish?key=${key}&count=${count}&rate=${rate}`, url),
        {
          method: "POST",
        },
      );
      return await response.json();
    },
    async stats() {
      return await (await fetch(new URL("/stats", url))).json();
    },
  };
}

/** One event a {@linkcode Subscriber} received. */
export interface Received {
  readonly id: string;
  readonly type: string;
  readonly data: string;
}

/**
 * An SSE client that records every event and, when told to, resumes on another instance with
 * `Last-Event-ID`, like an `EventSource` behind a load balancer.
 */
export class Subscriber {
  readonly events: Received[] = [];
  #controller: AbortController | undefined;
  #lastId = "";
  /** Resolves when the current stream ends (or fails). */
  ended: Promise<void> = Promise.resolve();
  #waiters: { predicate: () => boolean; resolve: () => void }[] = [];

  get lastId(): string {
    return this.#lastId;
  }

  /** Connects to `base` (`/events?key=...`), resuming after the last id it has, if any. */
  async connect(base: URL, key = "room", lastEventId = this.#lastId): Promise<void> {
    this.#controller?.abort();
    const controller = new AbortController();
    this.#controller = controller;
    const response = await fetch(new URL(`/events?key=${key}`, base), {
      headers: lastEventId === "" ? {} : { "last-event-id": lastEventId },
      signal: controller.signal,
    });
    if (!response.ok || response.body === null) throw new Error(`HTTP ${response.status}`);
    const parser = createParser({
      onEvent: (event) => {
        const received = { id: event.id ?? "", type: event.event ?? "message", data: event.data };
        this.events.push(received);
        if (event.id !== undefined) this.#lastId = event.id;
        this.#waiters = this.#waiters.filter((waiter) => {
          if (!waiter.predicate()) return true;
          waiter.resolve();
          return false;
        });
      },
    });
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    this.ended = (async () => {
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return;
          parser.feed(value);
        }
      } catch {
        // Aborted, or the instance died: the caller reconnects.
      }
    })();
  }

  /** Ends the current stream. */
  async close(): Promise<void> {
    this.#controller?.abort();
    await this.ended;
  }

  /** Resolves once `predicate` holds, or rejects after `ms`. */
  until(predicate: () => boolean, ms = 10_000): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = {
        predicate,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((other) => other !== waiter);
        reject(
          new Error(
            `Timed out after ${ms} ms; last id ${this.#lastId}, ${this.events.length} events`,
          ),
        );
      }, ms);
      this.#waiters.push(waiter);
    });
  }

  /** Whether it has received the event `id`. */
  has(id: string): boolean {
    return this.#lastId === id || this.events.some((event) => event.id === id);
  }
}

/** The sequence of an `<epoch>:<sequence>` id. */
export function sequenceOf(id: string): number {
  return Number(id.slice(id.lastIndexOf(":") + 1));
}

/**
 * Checks that `events` (the `message` ones) are exactly the sequences `from`..`to` of one epoch,
 * each once, in order. Returns a description of the first problem, or `""`.
 */
export function checkContiguous(events: readonly Received[], from: number, to: number): string {
  const messages = events.filter((event) => event.type === "message");
  const epochs = new Set(messages.map((event) => event.id.slice(0, event.id.lastIndexOf(":"))));
  if (epochs.size > 1) return `several epochs: ${[...epochs].join(", ")}`;
  let expected = from;
  for (const event of messages) {
    const sequence = sequenceOf(event.id);
    if (sequence !== expected) return `expected sequence ${expected}, received ${sequence}`;
    expected++;
  }
  if (expected !== to + 1) return `ended at ${expected - 1}, expected ${to}`;
  return "";
}
