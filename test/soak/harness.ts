/**
 * The client side of the soak scenarios: starts the server (test/soak/server.mjs) in a child
 * process, talks to it over IPC, and opens raw HTTP/1.1 connections to it. Raw sockets, because
 * the scenarios need what a real client library hides: thousands of connections, a reset (RST)
 * instead of a close, a client that stops reading, headers no client would send.
 */
import { type ChildProcess, execFileSync, fork } from "node:child_process";
import { statSync } from "node:fs";
import { readdir } from "node:fs/promises";
import * as net from "node:net";
import { fileURLToPath } from "node:url";
import { createParser } from "eventsource-parser";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SERVER = fileURLToPath(new URL("./server.mjs", import.meta.url));

/** Which server the scenario runs against. */
export type Mode = "node" | "fetch";

/** What the server process reports about itself. */
export interface ServerStats {
  metrics: {
    open: number;
    opened: number;
    eventsSent: number;
    bytesSent: number;
    queuedBytes: number;
    drops: number;
    closes: Record<string, number>;
  };
  open: number;
  openByKind: Record<string, number>;
  groupSize: number;
  appStreams: number;
  busListeners: number;
  serverListeners: Record<string, number>;
  processListeners: Record<string, number>;
  connections: number;
  resources: Record<string, number>;
  heapUsed: number;
  external: number;
  rss: number;
  peakRss: number;
  warnings: string[];
  errors: string[];
  closes: Record<string, Record<string, number>>;
  detections: { reason: string; sinceStall: number; sinceOpen: number }[];
  sequence: number;
}

async function newest(dir: string): Promise<number> {
  let latest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(".ts")) continue;
    latest = Math.max(latest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs);
  }
  return latest;
}

/**
 * The server runs the built package (dist/), as a user's server would. `npm test` builds it first;
 * a soak run on its own rebuilds it when a source file is newer.
 */
export async function ensureBuilt(): Promise<void> {
  let built = 0;
  try {
    built = Math.min(
      statSync(`${ROOT}dist/src/index.js`).mtimeMs,
      statSync(`${ROOT}dist/adapters/node.js`).mtimeMs,
    );
  } catch {
    // Not built yet.
  }
  const sources = Math.max(await newest(`${ROOT}src`), await newest(`${ROOT}adapters`));
  if (sources > built) {
    execFileSync(
      process.execPath,
      [`${ROOT}node_modules/typescript/bin/tsc`, "-p", "tsconfig.build.json"],
      {
        cwd: ROOT,
        stdio: "inherit",
      },
    );
  }
}

/** A server process of one scenario. */
export class SoakServer {
  readonly port: number;
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #pending = new Map<
    number,
    { resolve(value: unknown): void; reject(error: Error): void }
  >();
  #nextId = 0;
  /** Everything the process wrote to stdout and stderr. */
  output = "";

  private constructor(child: ChildProcess, port: number) {
    this.#child = child;
    this.port = port;
    this.pid = child.pid!;
    child.on("message", (message: { id?: number; result?: unknown; error?: string }) => {
      if (message.id === undefined) return;
      const pending = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if (message.error !== undefined) pending?.reject(new Error(message.error));
      else pending?.resolve(message.result);
    });
    child.on("exit", (code, signal) => {
      for (const pending of this.#pending.values()) {
        pending.reject(new Error(`Soak server exited (${code ?? signal}): ${this.output}`));
      }
      this.#pending.clear();
    });
  }

  /** Starts `server.mjs` with `config` and resolves once it listens. */
  static async start(config: Record<string, unknown>): Promise<SoakServer> {
    const child = fork(SERVER, [], {
      cwd: ROOT,
      execArgv: ["--expose-gc"],
      env: { ...process.env, SOAK_CONFIG: JSON.stringify(config) },
      stdio: ["ignore", "pipe", "pipe", "ipc"],
    });
    let output = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk;
    });
    const port = await new Promise<number>((resolve, reject) => {
      child.once("message", (message: { ready?: boolean; port?: number }) => {
        if (message.ready) resolve(message.port!);
      });
      child.once("exit", (code) => reject(new Error(`Soak server exited (${code}): ${output}`)));
    });
    const server = new SoakServer(child, port);
    server.output = output;
    child.stdout!.on("data", (chunk: Buffer) => {
      server.output += chunk;
    });
    child.stderr!.on("data", (chunk: Buffer) => {
      server.output += chunk;
    });
    return server;
  }

  /** Runs a command in the server process (see `commands` in server.mjs). */
  call<T = unknown>(command: string, args?: unknown): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#child.send({ id, command, args });
    });
  }

  stats(gc = false): Promise<ServerStats> {
    return this.call<ServerStats>("stats", { gc });
  }

  /** Polls the server until `predicate` holds, or `timeout` ms pass; returns the last stats. */
  async until(
    predicate: (stats: ServerStats) => boolean,
    timeout: number,
    gc = false,
  ): Promise<ServerStats> {
    const deadline = performance.now() + timeout;
    for (;;) {
      const stats = await this.stats(gc);
      if (predicate(stats) || performance.now() > deadline) return stats;
      await delay(50);
    }
  }

  /** Stops the process by its PID and waits for it to exit. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.#child.once("exit", resolve));
    process.kill(this.pid, "SIGKILL");
    await exited;
  }
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Loopback source addresses, used in turn, so thousands of connections never run out of ports. */
const SOURCES = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"];
let nextSource = 0;

/** Options for {@linkcode connect}. */
export interface ConnectOptions {
  /** The request path; `{peer}` becomes the client's own address and port. */
  path: string;
  /** Extra header lines, sent as they are (hostile input). */
  headerLines?: string[];
  /** Raw bytes to send instead of a request built from `path` and `headerLines`. */
  raw?: Buffer;
  /** Never read: the socket is paused at once, so the kernel buffers fill. */
  frozen?: boolean;
  /**
   * Parse the events as they arrive and keep their ids (in `ids`). The request is then made as
   * HTTP/1.0, so the body comes without chunked framing and goes straight to the parser.
   */
  parse?: boolean;
}

/** One raw HTTP/1.1 connection. */
export class RawClient {
  readonly socket: net.Socket;
  /** Bytes received. */
  bytes = 0;
  /** Ids of the events received, with `parse`. */
  readonly ids: number[] = [];
  /** The whole response, kept only for small responses (the first 64 KiB). */
  head = "";
  /** Resolves when the first event (`data: ready`) has arrived. */
  readonly ready: Promise<void>;
  /** Resolves when the socket has closed, with whether the server ended it with an error. */
  readonly closed: Promise<boolean>;
  /** Resolves on the next chunk of data. */
  #onData: (() => void) | undefined;

  constructor(port: number, options: ConnectOptions) {
    const localAddress = SOURCES[nextSource++ % SOURCES.length]!;
    this.socket = net.connect({ port, host: "127.0.0.1", localAddress });
    this.socket.on("error", () => {
      // A reset from either side: the scenarios check what the server saw, not this.
    });
    const request = (): Buffer =>
      options.raw ??
      Buffer.from(
        [
          `GET ${options.path.replace("{peer}", `${this.socket.localAddress}:${this.socket.localPort}`)} HTTP/1.${options.parse ? 0 : 1}`,
          "Host: 127.0.0.1",
          ...(options.headerLines?.some((line) => /^accept:/i.test(line))
            ? []
            : ["Accept: text/event-stream"]),
          ...(options.headerLines ?? []),
          "",
          "",
        ].join("\r\n"),
        "latin1",
      );
    // Sent once connected, so the path can name the client's address and port (see server.mjs).
    this.socket.once("connect", () => this.socket.write(request()));
    if (options.frozen) this.socket.pause();
    let resolveReady!: () => void;
    this.ready = new Promise((resolve) => {
      resolveReady = resolve;
    });
    let seenReady = false;
    let inBody = false;
    const decoder = new TextDecoder();
    const parser = options.parse
      ? createParser({
          onEvent: (event) => event.id !== undefined && this.ids.push(Number(event.id)),
        })
      : undefined;
    this.socket.on("data", (chunk: Buffer) => {
      if (parser !== undefined) {
        if (inBody) parser.feed(decoder.decode(chunk, { stream: true }));
        else {
          const end = chunk.indexOf("\r\n\r\n");
          if (end >= 0) {
            inBody = true;
            parser.feed(decoder.decode(chunk.subarray(end + 4), { stream: true }));
          }
        }
      }
      this.bytes += chunk.byteLength;
      if (this.head.length < 65_536) this.head += chunk.toString("latin1");
      if (!seenReady && this.head.includes("data: ready")) {
        seenReady = true;
        resolveReady();
      }
      const onData = this.#onData;
      this.#onData = undefined;
      onData?.();
    });
    this.closed = new Promise((resolve) => this.socket.once("close", resolve));
  }

  /** Resolves on the next chunk, or after `ms`. */
  nextData(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#onData = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** Closes cleanly: FIN, then waits for the server's side to go. */
  end(): Promise<boolean> {
    this.socket.end();
    return this.closed;
  }

  /** Closes abruptly: RST, whatever is in flight. */
  reset(): Promise<boolean> {
    this.socket.resetAndDestroy();
    return this.closed;
  }

  /** Stops reading and never closes: to the server, a peer that vanished. */
  vanish(): void {
    this.socket.pause();
  }
}

export function connect(port: number, options: ConnectOptions): RawClient {
  return new RawClient(port, options);
}

/** Sends one request and returns the status code and the response text (until the server ends it). */
export async function exchange(
  port: number,
  options: ConnectOptions,
  timeout = 5000,
): Promise<{ status: number; text: string }> {
  const client = connect(port, options);
  // The response is complete at the end of its chunked body, or at the end of the head of a
  // refusal (400, 431): the connection may stay open after either.
  const complete = new Promise<void>((resolve) => {
    client.socket.on("data", () => {
      if (
        client.head.endsWith("\r\n0\r\n\r\n") ||
        /^HTTP\/1\.1 [45]\d\d [^\r]*\r\n[\s\S]*?\r\n\r\n/.test(client.head)
      ) {
        resolve();
      }
    });
  });
  await Promise.race([client.closed, complete, delay(timeout)]);
  client.socket.destroy();
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(client.head)?.[1] ?? 0);
  return { status, text: client.head };
}

/** Parses the events of a raw response (chunked transfer framing removed). */
export function eventsOf(text: string): { data: string; id?: string }[] {
  const body = text.slice(text.indexOf("\r\n\r\n") + 4);
  let unchunked = "";
  let rest = body;
  for (;;) {
    const line = rest.indexOf("\r\n");
    if (line < 0) break;
    const size = Number.parseInt(rest.slice(0, line), 16);
    if (!(size > 0)) break;
    unchunked += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
  const events: { data: string; id?: string }[] = [];
  const parser = createParser({
    onEvent: (event) =>
      events.push(event.id ? { data: event.data, id: event.id } : { data: event.data }),
  });
  parser.feed(Buffer.from(unchunked, "latin1").toString("utf8"));
  return events;
}

/** Runs `task` for each of `count` items, at most `concurrency` at a time. */
export async function pool(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) await task(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/** The sum of the counts in `after` above those in `before`: handles, timers, listeners left over. */
export function leftOver(before: Record<string, number>, after: Record<string, number>): number {
  let extra = 0;
  for (const [name, count] of Object.entries(after))
    extra += Math.max(0, count - (before[name] ?? 0));
  return extra;
}

export const MB = 1024 * 1024;
