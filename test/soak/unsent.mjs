// The unsent-response soak's server: `node --expose-gc test/soak/unsent.mjs '<config>'`. Every
// request opens an event stream, dispatches into it, then answers otherwise: half with a 401, half
// by throwing. Over IPC it reports how many streams are still open once the client is done.
import { serve as honoServe } from "@hono/node-server";
import { serve } from "../../dist/adapters/node.js";
import { metrics, sendEvents } from "../../dist/src/index.js";

const { mode = "node" } = JSON.parse(process.argv[2] ?? "{}");
const errors = [];
process.on("unhandledRejection", (reason) => errors.push(`unhandledRejection: ${reason}`));
let handled = 0;
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

function handler(request) {
  const { target } = sendEvents(request);
  target.dispatchMessage("a snapshot nobody will read");
  handled++;
  if (handled % 2 === 0) throw new Error("the handler changed its mind");
  return new Response("Unauthorized", { status: 401 });
}

let server;
let port;
if (mode === "node") {
  server = await serve(handler, { onError: () => new Response(null, { status: 500 }) });
  port = server.port;
} else {
  const wrapped = (request) => {
    try {
      return handler(request);
    } catch {
      return new Response(null, { status: 500 });
    }
  };
  server = await new Promise((resolve) => {
    const started = honoServe({ fetch: wrapped, port: 0, hostname: "127.0.0.1" }, () =>
      resolve(started),
    );
  });
  port = server.address().port;
}

async function held() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

const baseline = await held();
process.send({ port });
process.on("message", async (message) => {
  if (message !== "done") return;
  // Ended at once where the adapter knows the answer; on the fetch path once collected, after
  // the first keep-alive tick (a quarter of the 5 s interval).
  const started = performance.now();
  while (metrics.open > 0 && performance.now() - started < 15_000) {
    await held();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const after = await held();
  clearInterval(sampler);
  process.send({
    peakRssMB: peakRss / 2 ** 20,
    handled,
    open: metrics.open,
    closes: metrics.closes,
    heapDeltaMB: (after - baseline) / 2 ** 20,
    drainMs: performance.now() - started,
    errors,
  });
});
