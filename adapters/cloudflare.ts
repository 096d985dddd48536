/**
 * `sendevents/cloudflare`: channels that span isolates on Cloudflare Workers. A Worker's
 * in-memory `Channel` reaches only the clients of its own isolate; {@linkcode ChannelObject} is a
 * Durable Object that holds one named channel for every Worker, with its history in the object's
 * SQLite storage ({@linkcode SqlEventStore}), and {@linkcode routeChannel} sends a Worker's
 * requests to it by name.
 *
 * Import it in Workers only: it imports `DurableObject` from `cloudflare:workers`. Types come from
 * `@cloudflare/workers-types` (`DurableObjectState`, `DurableObjectNamespace`).
 *
 * @example A room in a dozen lines
 * ```ts
 * import { ChannelObject, routeChannel } from "sendevents/cloudflare";
 *
 * export class Room extends ChannelObject {}
 *
 * export default {
 *   async fetch(request: Request, env: { ROOMS: DurableObjectNamespace<Room> }): Promise<Response> {
 *     return (await routeChannel(request, env.ROOMS)) ?? new Response("Not Found", { status: 404 });
 *   },
 * };
 * ```
 *
 * @module
 */
export {
  ChannelObject,
  type ChannelObjectBroadcastInit,
  type ChannelObjectOptions,
  type ChannelObjectStats,
} from "./cloudflare/channel-object.ts";
export {
  type AuthorizeResult,
  type RouteChannelOptions,
  routeChannel,
} from "./cloudflare/route.ts";
export { SqlEventStore, type SqlEventStoreOptions } from "./cloudflare/sql-event-store.ts";
export type {
  ChannelNamespace,
  ChannelObjectState,
  SqlCursor,
  SqlStorageLike,
  SqlValue,
} from "./cloudflare/types.ts";
