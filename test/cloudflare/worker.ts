// The Worker the tests of sendevents/cloudflare run in workerd (through miniflare, test/runtimes/miniflare-server.mjs):
// the rooms of `Room`, routed by routeChannel under /rooms/, with an authorize hook driven by a
// test header, and /rpc/<name>/<method> to call the object's RPC methods from a test.
import { ChannelObject, routeChannel } from "sendevents/cloudflare";

export interface RoomEvents {
  message: string;
  chat: { from: string; text: string };
}

interface Env {
  ROOMS: DurableObjectNamespace<Room>;
  HISTORY: DurableObjectNamespace<HistoryRoom>;
}

/** A room whose new members get its last 3 events first, from a history of up to 50. */
export class HistoryRoom extends ChannelObject<Env, RoomEvents> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, { history: 3, maxEvents: 50, keepAlive: 300 });
  }
}

/** A small room: 4 members, 5 events of history, a keep-alive every 300 ms, stalls ended after 900 ms. */
export class Room extends ChannelObject<Env, RoomEvents> {
  #fetches = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, {
      maxMembers: 4,
      maxEvents: 5,
      keepAlive: 300,
      stallTimeout: 900,
      retryAfter: 7,
    });
  }

  override fetch(request: Request): Promise<Response> {
    this.#fetches++;
    return super.fetch(request);
  }

  /** How many requests reached the object through fetch: an authorize refusal must not. */
  fetches(): number {
    return this.#fetches;
  }

  /** Deletes the object's storage under the channel, as an application might. */
  async wipe(): Promise<void> {
    await this.ctx.storage.deleteAll();
  }
}

const RPC = /^\/rpc\/([^/]+)\/(broadcast|stats|reset|wipe|fetches)$/;

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    const rpc = RPC.exec(url.pathname);
    if (rpc !== null) {
      const stub = env.ROOMS.getByName(decodeURIComponent(rpc[1]!));
      const method = rpc[2]!;
      try {
        if (method === "broadcast") {
          const { data, type } = (await request.json()) as { data: never; type?: "chat" };
          return Response.json(await stub.broadcast(data, type === undefined ? {} : { type }));
        }
        if (method === "stats") return Response.json(await stub.stats());
        if (method === "reset") return Response.json(await stub.reset());
        if (method === "wipe") {
          await stub.wipe();
          return Response.json(null);
        }
        return Response.json(await stub.fetches());
      } catch (error) {
        return Response.json({ error: String(error) }, { status: 500 });
      }
    }
    const history = await routeChannel(request, env.HISTORY, { prefix: "/history-rooms/" });
    if (history !== undefined) return history;
    const routed = await routeChannel(request, env.ROOMS, {
      authorize(request) {
        const auth = request.headers.get("x-test-auth");
        if (auth === "deny") return false;
        if (auth === "anonymous") {
          return new Response("Sign in\n", {
            status: 401,
            headers: { "www-authenticate": 'Bearer realm="rooms"' },
          });
        }
        return true;
      },
    });
    return routed ?? new Response("Not Found\n", { status: 404 });
  },
};
