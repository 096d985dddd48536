// Starts a server process that prints "listening on <url>", and stops it by its PID.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Served } from "./cases.ts";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const HERE = fileURLToPath(new URL("./", import.meta.url));
export const bin = (name: string): string => join(ROOT, "node_modules", ".bin", name);

/** Bundles `entry` (the app, hono and sendevents) into one ES module; returns its path. */
export function bundleApp(entry = join(HERE, "worker.ts")): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "sendevents-hono-"));
  const path = join(dir, "app.mjs");
  execFileSync(
    bin("bun"),
    ["build", entry, "--target=browser", "--format=esm", `--outfile=${path}`],
    { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] },
  );
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Spawns `command`, resolves once it prints its URL; `stop()` ends it by PID. */
export function start(command: string, args: string[], timeoutMs = 60_000): Promise<Served> {
  const child: ChildProcess = spawn(command, args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  let output = "";
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${command} did not start in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off("data", onData);
        child.stdout!.resume();
        resolve({ url: new URL(match[1]!), stop });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited (${code ?? signal}) before listening:\n${output}`));
    });
  });
}
