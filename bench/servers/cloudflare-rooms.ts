// The Durable Object side of bench/cloudflare.mjs, served in local workerd by
// test/runtimes/miniflare-server.mjs: one room ("bench") of sendevents/cloudflare's ChannelObject.
// GET /subscribe joins it (the last event, "ready", comes first: history 1); POST /publish-one
// broadcasts the body through the object's RPC `broadcast` and answers its id; GET /stats is the
// room's stats, with `instance`: a random id made in the object's constructor, which changes when
// workerd evicted the object and a request built it again (the idle probe of --hibernating).
import { ChannelObject } from "sendevents/cloudflare";

interface Env {
  ROOMS: DurableObjectNamespace<Room>;
}

export class Room extends ChannelObject<Env> {
  readonly #instance = crypto.randomUUID();
  readonly #constructedAt = Date.now();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, { maxMembers: 20_000, history: 1, maxEvents: 10_000 });
  }

  override stats() {
    return { ...super.stats(), instance: this.#instance, constructedAt: this.#constructedAt };
  }
}

export default {
  async fetch(request, env): Promise<Response> {
    const room = env.ROOMS.getByName("bench");
    const path = new URL(request.url).pathname;
    if (path === "/subscribe") return room.fetch(request);
    if (path === "/publish-one") return new Response(await room.broadcast(await request.text()));
    if (path === "/stats") return Response.json(await room.stats());
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
