// Starting and stopping the processes of a bench driver (bench/redis.mjs, bench/cloudflare.mjs):
// each is spawned with its stdout read until a line says it is ready, tracked until it exits, and
// stopped by its PID (SIGTERM, then SIGKILL).
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The processes started and not yet exited. */
export const children = new Set();

/**
 * Spawns `command argv` in the repository's root, resolves with the child, the first match of
 * `ready` in its stdout and what followed the match; rejects if it exits first.
 */
export function start(command, argv, ready, env = {}) {
  const child = spawn(command, argv, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, ...env },
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

/** Stops `child`: SIGTERM, then SIGKILL after `grace` ms; resolves once it has exited. */
export function stop(child, grace = 3000) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", resolve);
    child.kill("SIGTERM");
    setTimeout(() => child.kill("SIGKILL"), grace).unref();
  });
}
