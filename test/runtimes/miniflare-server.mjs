/**
 * Serves a Worker module in workerd through miniflare 4, with the settings of the top-level
 * `wrangler.toml` (compatibility date and flags), bundled with esbuild as wrangler does:
 *
 *   node22 test/runtimes/miniflare-server.mjs [worker.js]
 *
 * The worker defaults to `examples/cloudflare/worker.js` (wrangler.toml's `main` is the rooms
 * example, whose Durable Objects test/cloudflare/serve.mjs binds). miniflare 4 needs Node 22 or
 * later. `PORT` sets
 * the port (default 8787; `0` picks a free one). Prints `listening on <url>`; SIGTERM or SIGINT
 * disposes of workerd and exits.
 *
 * `npx wrangler dev` runs the same worker for people; the suite uses miniflare directly, without
 * wrangler's extra proxy in front of the worker.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const config = readWranglerToml(join(root, "wrangler.toml"));
const entry = resolve(process.argv[2] ?? join(root, "examples", "cloudflare", "worker.js"));

const bundle = await build({
  entryPoints: [entry],
  bundle: true,
  write: false,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  mainFields: ["module", "main"],
  conditions: ["workerd", "worker", "browser"],
  logLevel: "error",
});

const miniflare = new Miniflare({
  name: config.name,
  modules: true,
  script: bundle.outputFiles[0].text,
  compatibilityDate: config.compatibility_date,
  compatibilityFlags: config.compatibility_flags ?? [],
  host: "127.0.0.1",
  port: Number(process.env.PORT ?? 8787),
});
const url = await miniflare.ready;
console.log(`listening on ${url}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    miniflare.dispose().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

/**
 * Reads the top-level `key = "string"` and `key = ["strings"]` settings of a wrangler.toml: all
 * that this server needs, without a TOML dependency.
 */
function readWranglerToml(path) {
  const settings = {};
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const text = line.replace(/#.*$/, "").trim();
    if (text.startsWith("[")) break;
    const match = /^([A-Za-z_]+)\s*=\s*(.+)$/.exec(text);
    if (match) settings[match[1]] = JSON.parse(match[2]);
  }
  for (const key of ["name", "main", "compatibility_date"]) {
    if (typeof settings[key] !== "string") throw new Error(`${path} has no ${key}`);
  }
  return settings;
}
