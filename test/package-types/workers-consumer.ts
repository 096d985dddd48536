// A Workers consumer of sendevents/cloudflare, type-checked with skipLibCheck: false against the
// packed package in the setups of test/package-types.test.ts that have @cloudflare/workers-types.
// It also proves that the platform's real objects fit the structural types the package's
// declarations name (adapters/cloudflare/types.ts), so those cannot drift from the platform.
import { DurableObject } from "cloudflare:workers";
import { Channel, sendEvents } from "sendevents";
import {
  type ChannelNamespace,
  ChannelObject,
  type ChannelObjectState,
  type ChannelObjectStats,
  routeChannel,
  SqlEventStore,
  type SqlStorageLike,
} from "sendevents/cloudflare";

interface RoomEvents {
  chat: { from: string; text: string };
  message: string;
}

interface Env {
  ROOMS: DurableObjectNamespace<Room>;
}

export class Room extends ChannelObject<Env, RoomEvents> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, { maxMembers: 100, history: 10, maxAge: 60_000, stallTimeout: false });
  }

  async shout(text: string): Promise<string> {
    // The held channel is typed with the room's events.
    const event = await this.channel.broadcast({ from: "room", text }, { type: "chat" });
    // @ts-expect-error: "chat" carries { from, text }
    await this.channel.broadcast("not a chat", { type: "chat" });
    return event.id!;
  }
}

/** A Durable Object of one's own around SqlEventStore. */
export class Feed extends DurableObject<Env> {
  readonly channel = new Channel("feed", { store: new SqlEventStore(this.ctx.storage.sql) });

  override fetch(request: Request): Response {
    const { response, target } = sendEvents(request);
    void this.channel.register(target);
    return response;
  }
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const routed = await routeChannel(request, env.ROOMS, {
      prefix: "/rooms/",
      authorize: (request, channel) =>
        channel === "open" || request.headers.has("authorization")
          ? true
          : new Response(null, { status: 401 }),
    });
    return routed ?? new Response("Not Found", { status: 404 });
  },
  async scheduled(_controller: ScheduledController, env: Env): Promise<void> {
    const stub = env.ROOMS.getByName("lobby");
    const id: string = await stub.broadcast({ from: "cron", text: "tick" }, { type: "chat" });
    const plain: string = await stub.broadcast("hello");
    const stats: ChannelObjectStats = await stub.stats();
    const reset: string = await stub.reset();
    // @ts-expect-error: a chat is an object, not a number
    await stub.broadcast(42, { type: "chat" });
    // @ts-expect-error: no such event type
    await stub.broadcast("x", { type: "nope" });
    console.log(id, plain, stats.members, reset);
  },
} satisfies ExportedHandler<Env>;

// The platform's objects fit what the package's declarations name.
export function fits(state: DurableObjectState, sql: SqlStorage, rooms: Env["ROOMS"]): void {
  const s: ChannelObjectState = state;
  const q: SqlStorageLike = sql;
  const n: ChannelNamespace = rooms;
  console.log(s, q, n);
}
