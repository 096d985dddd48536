/**
 * Runs an edge function in `@edge-runtime/vm` (the sandbox of the Vercel / Next.js edge runtime)
 * behind a `node:http` server, so it can be tried locally:
 *
 *   npm run build && node examples/edge/server.js [handler.js]
 *
 * The handler file (default: `handler.js` beside this one) default-exports either a function
 * `(request, context) => Response` or an object with a `fetch` method. It is bundled with esbuild,
 * as edge functions are, and evaluated inside an `EdgeVM`, where only the edge runtime's globals
 * exist. Each request is rebuilt with the VM's own `Request`, whose `signal` aborts when the
 * client leaves. `PORT` sets the port (default 8000; `0` picks a free one). Prints
 * `listening on <url>`.
 *
 * @module
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { EdgeVM } from "@edge-runtime/vm";
import { build } from "esbuild";
import { serve } from "sendevents/node";

const entry = process.argv[2]
  ? resolve(process.argv[2])
  : fileURLToPath(new URL("./handler.js", import.meta.url));

const bundle = await build({
  entryPoints: [entry],
  bundle: true,
  write: false,
  format: "iife",
  globalName: "__edgeModule",
  platform: "neutral",
  target: "es2022",
  mainFields: ["module", "main"],
  conditions: ["edge-light", "worker", "browser"],
  logLevel: "error",
});

const vm = new EdgeVM();
vm.evaluate(bundle.outputFiles[0].text);
const exported = vm.evaluate("__edgeModule.default");
const handler =
  typeof exported === "function"
    ? exported
    : typeof exported?.fetch === "function"
      ? (request, context) => exported.fetch(request, undefined, context)
      : undefined;
if (!handler) {
  throw new TypeError(
    `Cannot serve ${entry}: its default export is neither a function nor { fetch }`,
  );
}

/** What the edge runtime's `context.waitUntil` gets: kept until settled, failures logged. */
const pending = new Set();
const context = {
  waitUntil(promise) {
    pending.add(promise);
    promise.then(
      () => pending.delete(promise),
      (error) => {
        pending.delete(promise);
        console.error(error);
      },
    );
  },
};

const server = await serve(
  async (request) => {
    // The VM's own AbortController and Request: the handler sees only edge-runtime objects.
    const abort = new vm.context.AbortController();
    request.signal.addEventListener("abort", () => abort.abort(), { once: true });
    /** @type {Record<string, unknown>} */
    const init = { method: request.method, headers: [...request.headers], signal: abort.signal };
    if (request.method !== "GET" && request.method !== "HEAD") {
      init.body = await request.arrayBuffer();
    }
    return await handler(new vm.context.Request(request.url, init), context);
  },
  { port: Number(process.env.PORT ?? 8000), hostname: "127.0.0.1" },
);
console.log(`listening on ${server.url}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
