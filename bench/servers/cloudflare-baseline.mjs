// The in-memory baseline of bench/cloudflare.mjs: one Channel on the default MemoryEventStore in
// one Node process, served by sendevents/node, with the routes of bench/servers/cloudflare-rooms.ts
// (GET /subscribe, POST /publish-one, GET /stats), so that both are driven the same way.
import { serve } from "../../dist/adapters/node.js";
import { Channel, sendEvents } from "../../dist/src/index.js";
import { announce } from "../shared.mjs";

const channel = new Channel("bench");

async function handler(request) {
  const path = new URL(request.url).pathname;
  if (path === "/subscribe") {
    const { response, target } = sendEvents(request);
    await channel.register(target);
    target.dispatchMessage("ready");
    return response;
  }
  if (path === "/publish-one") {
    return new Response((await channel.broadcast(await request.text())).id);
  }
  if (path === "/stats") return Response.json({ members: channel.size });
  return new Response("not found", { status: 404 });
}

const server = await serve(handler, { port: Number(process.env.PORT ?? 0) });
announce(server.port);
process.on("SIGTERM", () => process.exit(0));
