// The benchmark's smoke run: every server of bench/ starts, answers every scenario, and the load
// client counts exactly what was sent. It asserts no timing; `npm run bench` measures.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

const run = fileURLToPath(new URL("../bench/run.mjs", import.meta.url));

test("bench: a smoke run of every server and scenario counts exactly what was sent", async () => {
  const { code, stdout, stderr } = await new Promise<{
    code: number | null;
    stdout: string;
    stderr: string;
  }>((resolve) => {
    const child = spawn(process.execPath, [run, "--smoke"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
  expect(stderr).not.toContain("failure(s)");
  expect(code).toBe(0);
  for (const server of [
    "raw node:http",
    "raw node:http, hand-tuned (coalescing)",
    "sendevents/node",
    "sendevents via @hono/node-server",
    "Hono streamSSE (Node)",
    "better-sse",
    "h3 event stream",
    "sendevents (Deno)",
    "Hono streamSSE (Deno)",
    "sendevents (Bun)",
    "Hono streamSSE (Bun)",
  ]) {
    expect(stdout).toContain(`| ${server} |`);
  }
  expect(stdout).not.toContain("| failed |");
}, 180_000);
