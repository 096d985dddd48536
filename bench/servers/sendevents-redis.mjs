// One instance for bench/redis.mjs: a Channel on a RedisEventStore (MODE=redis, REDIS_URL) or on
// the default MemoryEventStore (MODE=memory, the single-instance baseline), served by
// sendevents/node. GET /subscribe joins the channel (after a first ": ready" comment);
// POST /publish?count=N&rate=R broadcasts N events, R per second (0: flat out, at most 512 in
// flight), each "<publish time in ms> <index> <padding>", and answers how long the appends took.
import { createClient } from "redis";
import { serve } from "../../dist/adapters/node.js";
import { RedisEventStore } from "../../dist/adapters/redis.js";
import { Channel } from "../../dist/src/index.js";
import { announce, now, payload } from "../shared.mjs";

let store;
let redis;
if (process.env.MODE === "redis") {
  redis = createClient({ url: process.env.REDIS_URL });
  redis.on("error", () => {});
  await redis.connect();
  store = new RedisEventStore(redis, { key: process.env.KEY ?? "bench", maxEvents: 10_000 });
}
const channel = new Channel("bench", store === undefined ? {} : { store });

async function publish(count, rate) {
  const inFlight = new Set();
  const start = now();
  let failed = 0;
  for (let i = 0; i < count; i++) {
    if (rate > 0) {
      const wait = start + (i * 1000) / rate - now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    while (inFlight.size >= 512) await Promise.race(inFlight);
    const sent = channel.broadcast(payload(i, now())).then(
      () => {},
      () => {
        failed++;
      },
    );
    inFlight.add(sent);
    void sent.then(() => inFlight.delete(sent));
  }
  await Promise.all(inFlight);
  const seconds = (now() - start) / 1000;
  return { count, failed, seconds, broadcastsPerSecond: count / seconds };
}

async function handler(request) {
  const url = new URL(request.url);
  if (url.pathname === "/subscribe") {
    const { sendEvents } = await import("../../dist/src/index.js");
    const { response, target } = sendEvents(request);
    await channel.register(target);
    target.dispatchMessage("ready");
    return response;
  }
  if (url.pathname === "/publish") {
    const count = Number(url.searchParams.get("count") ?? 1);
    const rate = Number(url.searchParams.get("rate") ?? 0);
    return Response.json(await publish(count, rate));
  }
  if (url.pathname === "/stats") return Response.json({ size: channel.size });
  return new Response("not found", { status: 404 });
}

const server = await serve(handler, { port: Number(process.env.PORT ?? 0) });
announce(server.port);
process.on("SIGTERM", async () => {
  await store?.close();
  await redis?.quit().catch(() => {});
  process.exit(0);
});
