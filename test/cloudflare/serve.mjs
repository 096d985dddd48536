/**
 * Serves a Worker of Durable Object rooms in workerd through miniflare 4 (Node 22 or later):
 *
 *   node22 test/cloudflare/serve.mjs <worker.ts> [ClassName=BINDING ...]
 *
 * Bundles the worker with esbuild as wrangler does (`cloudflare:workers` left to workerd), binds
 * each named class as a SQLite-backed Durable Object namespace (default `Room=ROOMS`), with the
 * top-level wrangler.toml's compatibility date and flags, and storage in memory. Listens on
 * 127.0.0.1 and `PORT` (0: a free port); prints `listening on <url>`; SIGTERM or SIGINT
 * disposes of workerd and exits.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { Miniflare } from "miniflare";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const [entry, ...classes] = process.argv.slice(2);
if (entry === undefined) throw new Error("usage: serve.mjs <worker> [Class=BINDING ...]");
const bindings = (classes.length > 0 ? classes : ["Room=ROOMS"]).map((pair) => pair.split("="));

const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
const compatibilityDate = /^compatibility_date\s*=\s*"([^"]+)"/m.exec(toml)[1];
const compatibilityFlags = JSON.parse(
  /^compatibility_flags\s*=\s*(\[.*\])/m.exec(toml)?.[1] ?? "[]",
);

const bundle = await build({
  entryPoints: [resolve(entry)],
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
  modules: [{ type: "ESModule", path: "worker.mjs", contents: bundle.outputFiles[0].text }],
  compatibilityDate,
  compatibilityFlags,
  durableObjects: Object.fromEntries(
    bindings.map(([className, binding]) => [binding, { className, useSQLite: true }]),
  ),
  host: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
});
const url = await miniflare.ready;
console.log(`listening on ${url.href}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    miniflare.dispose().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
