/**
 * Serves a Worker module in workerd through miniflare 4, with the settings of the top-level
 * `wrangler.toml` (compatibility date and flags), bundled with esbuild as wrangler does:
 *
 *   node22 test/runtimes/miniflare-server.mjs [worker.js] [ClassName=BINDING ...]
 *
 * The worker defaults to `examples/cloudflare/worker.js`. Each `ClassName=BINDING` binds the
 * worker's exported class as a SQLite-backed Durable Object namespace (storage in memory), as the
 * tests and bench of `sendevents/cloudflare` need; `cloudflare:*` modules are left to workerd.
 * miniflare 4 needs Node 22 or later. `PORT` sets the port (default 8787; `0` picks a free one).
 * Prints `listening on <url>`; SIGTERM or SIGINT disposes of workerd and exits.
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
const [worker, ...classes] = process.argv.slice(2);
const entry = resolve(worker ?? join(root, "examples", "cloudflare", "worker.js"));
const durableObjects = Object.fromEntries(
  classes.map((pair) => {
    const [className, binding] = pair.split("=");
    if (!className || !binding) throw new Error(`expected ClassName=BINDING, received ${pair}`);
    return [binding, { className, useSQLite: true }];
  }),
);

const bundle = await build({
  entryPoints: [entry],
  bundle: true,
  write: false,
  format: "esm",
  platform: "neutral",
  target: "es2022",
  mainFields: ["module", "main"],
  conditions: ["workerd", "worker", "browser"],
  external: ["cloudflare:*"],
  logLevel: "error",
});

const miniflare = new Miniflare({
  name: config.name,
  modules: true,
  script: bundle.outputFiles[0].text,
  compatibilityDate: config.compatibility_date,
  compatibilityFlags: config.compatibility_flags ?? [],
  ...(classes.length > 0 ? { durableObjects } : {}),
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
