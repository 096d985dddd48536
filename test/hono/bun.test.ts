// The Hono cases on Bun: the app bundled with its dependencies, served by Bun.serve.
import { join } from "node:path";
import { describeHonoRuntime } from "./cases.ts";
import { bin, bundleApp, HERE, start } from "./spawn.ts";

describeHonoRuntime("bun", async () => {
  const bundle = bundleApp();
  const served = await start(bin("bun"), ["run", join(HERE, "serve-bun.mjs"), bundle.path]);
  return {
    url: served.url,
    stop: async () => {
      await served.stop();
      bundle.remove();
    },
  };
});
