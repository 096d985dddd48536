// The Hono cases on Deno: the app bundled with its dependencies, served by Deno.serve.
import { join } from "node:path";
import { describeHonoRuntime } from "./cases.ts";
import { bin, bundleApp, HERE, start } from "./spawn.ts";

describeHonoRuntime("deno", async () => {
  const bundle = bundleApp();
  const served = await start(bin("deno"), [
    "run",
    "--allow-net=127.0.0.1",
    `--allow-read=${bundle.path}`,
    join(HERE, "serve-deno.mjs"),
    bundle.path,
  ]);
  return {
    url: served.url,
    stop: async () => {
      await served.stop();
      bundle.remove();
    },
  };
});
