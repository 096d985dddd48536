// The Hono cases on workerd: the app bundled as a module worker, served by Miniflare under Node 22
// (Miniflare 4 needs Node >= 22; scripts/setup.d installs it in test/runtimes/node-versions).
import { join } from "node:path";
import { describeHonoRuntime } from "./cases.ts";
import { bundleApp, HERE, ROOT, start } from "./spawn.ts";

const NODE_22 = join(
  ROOT,
  "test",
  "runtimes",
  "node-versions",
  "node_modules",
  "node22",
  "bin",
  "node",
);

describeHonoRuntime("workerd", async () => {
  const bundle = bundleApp();
  const served = await start(NODE_22, [join(HERE, "serve-workerd.mjs"), bundle.path]);
  return {
    url: served.url,
    stop: async () => {
      await served.stop();
      bundle.remove();
    },
  };
});
