// Compares sendevents/hono with Hono's own streamSSE on the same app (./compare-app.ts) on Node
// (@hono/node-server), Deno, Bun and workerd. Not a test: it prints what each one does.
//
//   node_modules/.bin/bun test/hono/compare-stream-sse.ts

import { Hono } from "hono";
import { compress } from "hono/compress";
import { streamSSE } from "hono/streaming";
import { events } from "../../adapters/hono.ts";
import { ServerSentEvent } from "../../src/index.ts";
import { bundle, launch, type ServerProcess, startServer } from "../runtimes/launch.ts";

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function silentLeave(base: URL, helper: string): Promise<string> {
  const key = `${helper}-${Math.random().toString(36).slice(2)}`;
  await fetch(new URL(`/start/${key}`, base), { method: "POST" });
  const abort = new AbortController();
  const response = await fetch(new URL(`/${helper}/silent?key=${key}`, base), {
    signal: abort.signal,
  });
  const reader = response.body!.getReader();
  await reader.read();
  await delay(200);
  await fetch(new URL(`/start/${key}`, base), { method: "POST" });
  abort.abort();
  await reader.cancel().catch(() => {});
  await delay(3500);
  const seen = (await (await fetch(new URL(`/seen/${key}`, base))).json()) as string[];
  return seen.length === 0 ? "nothing within 3.5 s" : seen.join(", ");
}

async function afterReturn(base: URL, helper: string): Promise<string> {
  const response = await fetch(new URL(`/${helper}/return`, base));
  const reader = response.body!.getReader();
  const deadline = delay(500).then(() => "open");
  for (;;) {
    const result = await Promise.race([reader.read(), deadline]);
    if (result === "open") {
      await reader.cancel();
      return "still open 500 ms after the callback returned";
    }
    if (typeof result !== "string" && result.done) return "ended when the callback returned";
  }
}

async function injection(): Promise<void> {
  const hostile = [
    { event: "a\nevent: injected" },
    { id: "1\r\ndata: injected" },
    { id: "nul\u0000id" },
    { retry: -1 },
    { retry: 1.5 },
    { id: "" },
  ];
  for (const fields of hostile) {
    const theirs = await new Hono()
      .get("/", (c) =>
        streamSSE(c, async (stream) => {
          try {
            await stream.writeSSE({ data: "x", ...fields } as never);
          } catch (error) {
            await stream.write(`THROWS ${(error as Error).constructor.name}`);
          }
        }),
      )
      .request("/");
    const ours = await new Hono()
      .get(
        "/",
        events((_c, target) => {
          try {
            const { event, ...init } = fields as { event?: string };
            target.dispatchEvent(new ServerSentEvent(event ?? "message", "x", init as never));
          } catch (error) {
            target.dispatchComment(`THROWS ${(error as Error).constructor.name}`);
          }
          void target.close();
        }),
      )
      .request("/");
    console.log(
      `  ${JSON.stringify(fields)}\n    streamSSE: ${JSON.stringify(await theirs.text())}\n    sendevents/hono: ${JSON.stringify(await ours.text())}`,
    );
  }
}

/** Why sendevents/hono sends `no-transform`: a compress told to take event streams holds them. */
async function compressed(): Promise<void> {
  const variants: [string, HeadersInit | undefined][] = [
    ["Cache-Control: no-cache, no-transform (sendevents/hono)", undefined],
    ["Cache-Control: no-cache (the core's default)", { "Cache-Control": "no-cache" }],
  ];
  for (const [label, headers] of variants) {
    const app = new Hono().get(
      "/",
      compress({ threshold: 0, contentTypeFilter: () => true }),
      events(
        (_c, target) => {
          let n = 0;
          const timer = setInterval(() => {
            target.dispatchMessage({ at: Date.now() });
            if (++n === 5) void target.close();
          }, 100);
          target.addEventListener("close", () => clearInterval(timer));
        },
        headers === undefined ? {} : { headers },
      ),
    );
    const response = await app.request("/", { headers: { "Accept-Encoding": "gzip" } });
    const encoding = response.headers.get("content-encoding");
    const body =
      encoding === "gzip"
        ? response.body!.pipeThrough(new DecompressionStream("gzip"))
        : response.body!;
    const latencies: number[] = [];
    const decoder = new TextDecoder();
    const reader = body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const match of decoder.decode(value).matchAll(/"at":(\d+)/g)) {
        latencies.push(Date.now() - Number(match[1]));
      }
    }
    console.log(
      `  ${label}: Content-Encoding ${encoding}, dispatch-to-arrival ms ${JSON.stringify(latencies)}`,
    );
  }
}

const app = bundle("test/hono/compare-worker.ts");
const runtimes: [string, () => Promise<ServerProcess>][] = [
  // "node" from PATH (Node 20 here), whatever runs this script.
  ["node", () => startServer("node", "node", ["test/hono/serve-node.mjs", app.path])],
  [
    "deno",
    () =>
      launch("deno", "test/hono/serve-deno.mjs", {
        runtimeArgs: [`--allow-read=${app.path}`],
        args: [app.path],
      }),
  ],
  ["bun", () => launch("bun", "test/hono/serve-bun.mjs", { args: [app.path] })],
  // miniflare-server.mjs bundles the worker itself, with the top-level wrangler.toml's flags.
  ["workerd", () => launch("workerd", "test/hono/compare-worker.ts")],
];
try {
  for (const [name, start] of runtimes) {
    const served = await start();
    try {
      for (const helper of ["ours", "theirs"]) {
        const label = helper === "ours" ? "sendevents/hono" : "streamSSE";
        console.log(`${name} ${label}: client leaves -> ${await silentLeave(served.url, helper)}`);
        console.log(
          `${name} ${label}: callback returns -> ${await afterReturn(served.url, helper)}`,
        );
      }
    } finally {
      await served.stop();
    }
  }
  console.log("hostile fields (in process):");
  await injection();
  console.log("compress({ contentTypeFilter: () => true }) over an event stream (in process):");
  await compressed();
} finally {
  app.remove();
}
