/**
 * One app instance for the Redis suite, on Node, Deno or Bun: channels on `RedisEventStore`s
 * over `REDIS_URL`, served on 127.0.0.1 and `PORT` (0: a free one). Prints `listening on <url>`.
 *
 * - `GET /events?key=K` streams channel K (resumes after `Last-Event-ID`);
 * - `POST /publish?key=K&count=N&rate=R` broadcasts N events (`R` per second, 0: flat out, at
 *   most 256 in flight) and answers `{ ok, failed, first, last, error }`;
 * - `GET /stats` answers `{ members: { K: size } }`.
 *
 * Env: `REDIS_URL`, `PORT`, `STORE_TIMEOUT` (ms), `STORE_MAX_EVENTS`, `STORE_CHECK` (ms),
 * `NAME` (put in each event's data).
 *
 * @module
 */
import { createClient } from "redis";
import { Channel, sendEvents } from "sendevents";
import { RedisEventStore } from "sendevents/redis";

const env = (name) => globalThis.Deno?.env.get(name) ?? globalThis.process?.env[name];
const name = env("NAME") ?? "instance";
const redis = createClient({
  url: env("REDIS_URL"),
  socket: { reconnectStrategy: (retries) => Math.min(50 + retries * 50, 300) },
});
redis.on("error", () => {});
await redis.connect();

const channels = new Map();
function channel(key) {
  let found = channels.get(key);
  if (found === undefined) {
    const store = new RedisEventStore(redis, {
      key,
      timeout: Number(env("STORE_TIMEOUT") ?? 2000),
      maxEvents: Number(env("STORE_MAX_EVENTS") ?? 100_000),
      checkInterval: Number(env("STORE_CHECK") ?? 500),
    });
    found = new Channel(key, { store });
    channels.set(key, found);
  }
  return found;
}

async function publish(room, count, rate) {
  const result = { ok: 0, failed: 0, first: undefined, last: undefined, error: undefined };
  const inFlight = new Set();
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    if (rate > 0) {
      const due = start + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    while (inFlight.size >= 256) await Promise.race(inFlight);
    const sent = room.broadcast(`${name}-${i}`).then(
      (event) => {
        result.ok++;
        result.first ??= event.id;
        result.last = event.id;
      },
      (error) => {
        result.failed++;
        result.error = String(error?.message ?? error);
      },
    );
    inFlight.add(sent);
    sent.then(() => inFlight.delete(sent));
  }
  await Promise.all(inFlight);
  return result;
}

async function handle(request) {
  const url = new URL(request.url);
  const key = url.searchParams.get("key") ?? "room";
  if (url.pathname === "/events") {
    const { response, target } = sendEvents(request);
    void channel(key).register(target);
    return response;
  }
  if (url.pathname === "/publish" && request.method === "POST") {
    const count = Number(url.searchParams.get("count") ?? 1);
    const rate = Number(url.searchParams.get("rate") ?? 0);
    return Response.json(await publish(channel(key), count, rate));
  }
  if (url.pathname === "/stats") {
    const members = {};
    for (const [k, c] of channels) members[k] = c.size;
    return Response.json({ members });
  }
  return new Response("not found", { status: 404 });
}

const port = Number(env("PORT") ?? 0);
if (globalThis.Deno !== undefined) {
  Deno.serve(
    {
      port,
      hostname: "127.0.0.1",
      onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/`),
    },
    handle,
  );
} else if (globalThis.Bun !== undefined) {
  const server = Bun.serve({ port, hostname: "127.0.0.1", idleTimeout: 0, fetch: handle });
  console.log(`listening on ${server.url}`);
} else {
  const { serve } = await import("sendevents/node");
  const server = await serve(handle, { port });
  console.log(`listening on ${server.url}`);
}
