import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuilt } from "./soak/harness.ts";

const ROOT = new URL("../", import.meta.url);
let dir: string;

/** Installs a copy of the built package in `dir/name/node_modules/sendevents`, as npm would. */
function install(name: string): string {
  const pkg = join(dir, name, "node_modules", "sendevents");
  cpSync(new URL("dist", ROOT), join(pkg, "dist"), { recursive: true });
  cpSync(new URL("package.json", ROOT), join(pkg, "package.json"));
  return pkg;
}

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "sendevents-dup-"));
  writeFileSync(join(dir, "package.json"), "{}");
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("sendevents/node with two copies of the package", () => {
  test("node serves a stream made by another copy's sendEvents through the standard path", async () => {
    const one = install("one");
    const two = install("two");
    const node = await import(
      /* @vite-ignore */ pathToFileURL(join(one, "dist/adapters/node.js")).href
    );
    const core = await import(
      /* @vite-ignore */ pathToFileURL(join(two, "dist/src/index.js")).href
    );
    const errors: unknown[] = [];
    let closeReason = "";
    let bodyIsStream = false;
    const server = await node.serve(
      (request: Request) => {
        const { response, target } = core.sendEvents(request);
        bodyIsStream = response.body instanceof ReadableStream;
        target.addEventListener("close", (event: { reason: string }) => {
          closeReason = event.reason;
        });
        target.dispatchMessage("from the other copy");
        void target.close();
        return response;
      },
      {
        onError: (error: unknown) => {
          errors.push(error);
          return new Response(null, { status: 500 });
        },
      },
    );
    try {
      const response = await fetch(server.url);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/event-stream");
      expect(await response.text()).toBe(":\n\ndata: from the other copy\n\n");
      expect(errors).toEqual([]);
      expect(bodyIsStream).toBe(true);
      expect(closeReason).toBe("server");
      expect(core.metrics.open).toBe(0);
    } finally {
      await server.close();
    }
  });
});
