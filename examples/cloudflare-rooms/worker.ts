/**
 * Chat rooms that span isolates: each room is a Durable Object (a `ChannelObject`) that holds its
 * members' streams and its history in SQLite, reached from every Worker by name. Run by the
 * top-level `wrangler.toml` (its `ROOMS` binding and `new_sqlite_classes` migration):
 *
 *   npm run build && npx wrangler dev
 *
 * - `GET /rooms/<name>/events`: the room's event stream (resumes after `Last-Event-ID`).
 * - `POST /rooms/<name>?type=chat`: broadcasts the body; answers `{ "id": "<epoch>:<seq>" }`.
 *   Only with `Authorization: Bearer <POST_TOKEN>` when the `POST_TOKEN` variable is set.
 * - A cron trigger (if configured) broadcasts to `lobby` through RPC, as a queue consumer could.
 * - Every other path: the example app of the other runtimes (`examples/shared/app.js`), as
 *   `examples/cloudflare/worker.js` serves it.
 *
 * @module
 */
import { ChannelObject, routeChannel } from "sendevents/cloudflare";
import app from "../shared/app.js";

interface Env {
  ROOMS: DurableObjectNamespace<Room>;
  /** When set, a broadcast over HTTP needs `Authorization: Bearer <POST_TOKEN>`. */
  POST_TOKEN?: string;
}

/** What a room sends: chat lines as text, and the cron's ticks as JSON. */
interface RoomEvents {
  chat: string;
  tick: { at: number };
}

export class Room extends ChannelObject<Env, RoomEvents> {
  constructor(ctx: DurableObjectState, env: Env) {
    // 1000 members, the last 500 events for 10 minutes; a new member gets the last 20.
    super(ctx, env, { maxMembers: 1000, maxEvents: 500, maxAge: 10 * 60_000, history: 20 });
  }
}

export default {
  async fetch(request, env, ctx): Promise<Response> {
    const routed = await routeChannel(request, env.ROOMS, {
      authorize(request) {
        if (request.method !== "POST" || env.POST_TOKEN === undefined) return true;
        return request.headers.get("authorization") === `Bearer ${env.POST_TOKEN}`;
      },
    });
    return routed ?? app.fetch(request, env, ctx);
  },
  async scheduled(_controller, env): Promise<void> {
    await env.ROOMS.getByName("lobby").broadcast({ at: Date.now() }, { type: "tick" });
  },
} satisfies ExportedHandler<Env>;
