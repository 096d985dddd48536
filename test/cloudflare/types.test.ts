// The Workers that use sendevents/cloudflare (this suite's worker, examples/cloudflare-rooms) are
// Workers code: their platform types come from @cloudflare/workers-types, whose globals cannot
// share a program with the DOM's or Node's, so tsconfig.json leaves them out and
// tsconfig.workers.json checks them, against the built package.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { expect, test } from "vitest";
import { ROOT } from "../runtimes/launch.ts";
import { ensureBuilt } from "../soak/harness.ts";

test("the Workers using sendevents/cloudflare type-check with @cloudflare/workers-types", async () => {
  await ensureBuilt();
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const output = await promisify(execFile)(process.execPath, [tsc, "-p", "tsconfig.workers.json"], {
    cwd: ROOT,
  }).then(
    ({ stdout }) => stdout,
    (error: { stdout?: string }) => error.stdout || String(error),
  );
  expect(output).toBe("");
}, 60_000);
