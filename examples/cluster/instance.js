/**
 * One instance of the cluster demo: a clock and a chat room on a `RedisEventStore`, so that every
 * instance on the same Redis serves the same channel. Started by `start.js`; alone:
 *
 *   REDIS_URL=redis://127.0.0.1:6379 NAME=a CLOCK=1 PORT=8001 node examples/cluster/instance.js
 *
 * `CLOCK=1` makes this instance broadcast the clock (one tick a second, numbered); every
 * instance delivers it. Prints `listening on <url>`.
 *
 * @module
 */
import { createClient } from "redis";
import { Channel, ServerSentEvent, sendEvents } from "sendevents";
import { serve } from "sendevents/node";
import { RedisEventStore } from "sendevents/redis";

const name = process.env.NAME ?? "instance";
const redis = createClient({ url: process.env.REDIS_URL });
redis.on("error", (error) => console.error(`${name}: redis: ${error.message}`));
await redis.connect();
const store = new RedisEventStore(redis, { key: "cluster-demo", maxEvents: 1000 });
const room = new Channel("room", { store });
const streams = new Set();

let tick = 0;
const clock =
  process.env.CLOCK === "1"
    ? setInterval(() => {
        room
          .broadcast({ tick: ++tick, at: new Date().toISOString(), by: name }, { type: "tick" })
          .catch((error) => console.error(`${name}: tick ${tick} not sent: ${error.message}`));
      }, 1000)
    : undefined;

const server = await serve(
  async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/events") {
      const { response, target } = sendEvents(request);
      // Which instance serves this stream (no id: the client's Last-Event-ID stays as it was).
      target.dispatchEvent(new ServerSentEvent("hello", name));
      void room.register(target);
      streams.add(target);
      target.addEventListener("close", () => streams.delete(target));
      return response;
    }
    if (pathname === "/messages" && request.method === "POST") {
      const text = (await request.text()).slice(0, 500);
      const event = await room.broadcast(`${text} (via ${name})`, { type: "chat" });
      return Response.json({ id: event.id });
    }
    if (pathname === "/drop" && request.method === "POST") {
      const dropped = streams.size;
      for (const target of streams) void target.close();
      return Response.json({ dropped });
    }
    return new Response("Not found", { status: 404 });
  },
  { port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" },
);
console.log(`listening on ${server.url}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, async () => {
    clearInterval(clock);
    await server.close();
    await store.close();
    await redis.quit().catch(() => {});
    process.exit(0);
  });
}
