// sendevents/client itself on every runtime it claims: the same code (test/client/portable.js)
// run on Node 18, 22 and 24, Deno, Bun and in workerd, against the client app served by Node 20.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SCRIPT_EVENTS } from "../conformance/conformance.ts";
import { type LaunchedServer, launch, nodeBinary, ROOT } from "../runtimes/launch.ts";

const RUNNER = join(ROOT, "test", "client", "portable-run.mjs");
const BIN = join(ROOT, "node_modules", ".bin");

/** What every runtime must report. */
const EXPECTED = {
  script: SCRIPT_EVENTS.map((event) => [event.event ?? "message", event.data, event.id ?? null]),
  resumed: { opens: true, consecutive: true, closed: "closed" },
  tokens: { text: "one two three four five six", end: { reason: "done", status: 204 } },
  first: "hello",
};

let app: LaunchedServer | undefined;
beforeAll(async () => {
  app = await launch("node20", "test/client/serve-node.mjs");
});
afterAll(async () => {
  await app?.stop();
});

function run(file: string, args: string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${file} failed: ${error.message}\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split("\n").at(-1)!));
    });
  });
}

const RUNTIMES: [string, () => [string, string[]]][] = [
  ["Node 18", () => [nodeBinary(18), [RUNNER]]],
  ["Node 24", () => [nodeBinary(24), [RUNNER]]],
  ["Deno", () => [join(BIN, "deno"), ["run", "--allow-net", RUNNER]]],
  ["Bun", () => [join(BIN, "bun"), [RUNNER]]],
];

describe.concurrent("sendevents/client on every runtime", () => {
  for (const [name, command] of RUNTIMES) {
    test(`sendevents/client on ${name} reads, resumes through a Channel, streams a POST and stops on 204`, async () => {
      const [file, args] = command();
      expect(await run(file, [...args, app!.url.href])).toEqual(EXPECTED);
    });
  }

  test("sendevents/client in workerd reads, resumes through a Channel, streams a POST and stops on 204", async () => {
    const worker = await launch("workerd", "test/client/portable-worker.js");
    try {
      const response = await fetch(
        new URL(`/?base=${encodeURIComponent(app!.url.href)}`, worker.url),
      );
      expect(await response.json()).toEqual(EXPECTED);
    } finally {
      await worker.stop();
    }
  });
});
