import { DurableObject } from "cloudflare:workers";
import {
  Channel,
  ServerSentEvent,
  type ServerSentEventTarget,
  sendEvents,
} from "../../src/index.ts";
import { SqlEventStore } from "./sql-event-store.ts";
import type { ChannelObjectState } from "./types.ts";

/** The default {@linkcode ChannelObjectOptions.maxMembers}. */
const DEFAULT_MAX_MEMBERS = 1000;
/** The default {@linkcode ChannelObjectOptions.retryAfter}, in seconds. */
const DEFAULT_RETRY_AFTER = 5;
/** The default {@linkcode ChannelObjectOptions.stallTimeout}. */
const DEFAULT_STALL_TIMEOUT = 30_000;
const ACTION = "Cannot create channel object";

/** Options for {@linkcode ChannelObject}, passed as the third argument of its constructor. */
export interface ChannelObjectOptions {
  /**
   * The most streams the channel holds at once. One more is answered `503 Service Unavailable`
   * with `Retry-After`, and nothing is opened for it.
   * @default 1000
   */
  maxMembers?: number;
  /**
   * Seconds sent as `Retry-After` with that `503`.
   * @default 5
   */
  retryAfter?: number;
  /**
   * How many of the most recent events a client that does not resume (no `Last-Event-ID`) is
   * sent before the live ones.
   * @default 0
   */
  history?: number;
  /**
   * The most events the history keeps (see `SqlEventStore`).
   * @default 1000
   */
  maxEvents?: number;
  /**
   * Milliseconds an event is kept in the history (see `SqlEventStore`).
   * @default 300000
   */
  maxAge?: number;
  /**
   * The largest event, in UTF-8 bytes, that a broadcast may carry; a `POST` body over it is
   * answered `413`, an RPC `broadcast` rejects with a `RangeError`.
   * @default 65536
   */
  maxEventBytes?: number;
  /**
   * Milliseconds of silence after which a stream is sent a comment. It is also what notices a
   * client that left, where the runtime has not told (see the README's Workers section).
   * @default 5000
   */
  keepAlive?: number | false;
  /**
   * Milliseconds a stream's response may go unread, from its start, before the stream is ended
   * and its place freed. A client that leaves is normally noticed at the next write; but when its
   * response is dropped between the Worker and the object without being cancelled (local workerd
   * does this to a client that leaves while broadcasts are running), the object's writes are never
   * read and never fail, and only this frees the member. A stream seen being read is left alone
   * from then on. `false` turns it off.
   * @default 30000
   */
  stallTimeout?: number | false;
  /**
   * The type of the event sent to a client whose `Last-Event-ID` cannot be resumed from.
   * @default "stale"
   */
  staleEventType?: string;
}

/** Options for {@linkcode ChannelObject.broadcast}: the event's type and `retry`. */
export interface ChannelObjectBroadcastInit<Type extends string = string> {
  /**
   * The event type; with a typed channel, a key of its event map.
   * @default "message"
   */
  type?: Type;
  /** Sent as the `retry:` field: the client's reconnection time, in milliseconds. */
  retry?: number;
}

/** What the stall watch last saw of a stream. */
interface Watch {
  /** A check saw its queue taken from (empty, or smaller than before): it is being sent. */
  read: boolean;
  /** Its `bufferedAmount` at the last check. */
  queued: number;
  /** When a check first found its queue untaken. */
  since: number | undefined;
}

/** What {@linkcode ChannelObject.stats} returns. */
export interface ChannelObjectStats {
  /** The channel's name: the one the object's id was made from with `idFromName`. */
  readonly name: string;
  /** Streams open now (replaying or live). */
  readonly members: number;
  /** The cap on `members`. */
  readonly maxMembers: number;
  /** The newest event's id; `<epoch>:0` before the first. */
  readonly lastId: string;
  /** Events in the history now. */
  readonly held: number;
}

function checkCount(name: string, value: unknown, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    const range = min === 0 ? "a non-negative integer" : "a positive integer";
    throw new RangeError(
      `${ACTION}: "${name}" must be ${range}, received ${typeof value === "number" ? value : typeof value}`,
    );
  }
  return value;
}

/** Reads a request body as text, at most `max` UTF-8 bytes; `undefined` if it is longer. */
async function readText(request: Request, max: number): Promise<string | undefined> {
  const length = Number(request.headers.get("content-length") ?? Number.NaN);
  if (length > max) {
    await request.body?.cancel().catch(() => {});
    return undefined;
  }
  if (request.body === null) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel().catch(() => {});
      return undefined;
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(`${body}\n`, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * A Durable Object that holds one named channel: its members' event streams, and its history in
 * the object's SQLite storage ({@linkcode SqlEventStore}), so that every Worker, in every isolate
 * and data centre, reaches the same channel. It holds a real `Channel`: every event once, in
 * order, resume from `Last-Event-ID` with exactly what was missed, or one `stale` event.
 *
 * Reached two ways:
 * - `fetch`: `GET` (or `HEAD`) opens an event stream on the channel (resuming after its
 *   `Last-Event-ID`); `POST` broadcasts the body as the data of one event, of the type in the
 *   `type` query parameter (`message` by default), and answers `{ "id": "<epoch>:<seq>" }`.
 *   {@linkcode routeChannel} sends a Worker's requests here, after its `authorize` hook: the
 *   object trusts whoever reaches it (only Workers bound to it can).
 * - RPC, from any Worker, queue consumer or cron trigger bound to the namespace:
 *   `env.ROOMS.getByName("lobby").broadcast(data, { type })` resolves with the stored event's id;
 *   `stats()` and `reset()` too.
 *
 * The object stays awake, and is billed for its duration, while any stream is open: each holds a
 * request open and a keep-alive timer. With no member it holds nothing, and Cloudflare evicts it;
 * a broadcast or a join wakes it and its history is read from SQLite.
 *
 * @typeParam Env The Worker's bindings, as `this.env`.
 * @typeParam Events The channel's event map: `broadcast` checks types and data against it.
 *
 * @example A room: bind it as `ROOMS` (with a `new_sqlite_classes` migration)
 * ```ts
 * import { ChannelObject, routeChannel } from "sendevents/cloudflare";
 *
 * interface Env { ROOMS: DurableObjectNamespace<Room> }
 * type RoomEvents = { chat: { from: string; text: string } };
 *
 * export class Room extends ChannelObject<Env, RoomEvents> {
 *   constructor(ctx: DurableObjectState, env: Env) {
 *     super(ctx, env, { maxMembers: 500, history: 20 });
 *   }
 * }
 *
 * export default {
 *   async fetch(request: Request, env: Env): Promise<Response> {
 *     // GET /rooms/:name/events streams, POST /rooms/:name broadcasts.
 *     return (await routeChannel(request, env.ROOMS)) ?? new Response("Not Found", { status: 404 });
 *   },
 *   async scheduled(_controller: ScheduledController, env: Env): Promise<void> {
 *     await env.ROOMS.getByName("lobby").broadcast({ from: "cron", text: "tick" }, { type: "chat" });
 *   },
 * };
 * ```
 */
export class ChannelObject<
  Env = unknown,
  Events extends object = Record<string, unknown>,
> extends DurableObject<Env> {
  /** Untyped inside: `broadcast` checks against `Events` at its own signature. */
  readonly #channel: Channel;
  readonly #store: SqlEventStore;
  /** Open streams, each with what the stall watch last saw of it. */
  readonly #members = new Map<ServerSentEventTarget, Watch>();
  /** Checks the members for stalled queues; set only while there are members. */
  #watch: ReturnType<typeof setInterval> | undefined;
  readonly #stallTimeout: number | false;
  readonly #name: string;
  readonly #maxMembers: number;
  readonly #retryAfter: number;
  readonly #history: number;
  readonly #maxEventBytes: number;
  readonly #keepAlive: number | false | undefined;
  readonly #staleEventType: string;

  /**
   * Opens the channel's history in `ctx.storage.sql` (making its tables on first use).
   *
   * @param ctx The object's state, as the runtime passes it.
   * @param env The Worker's bindings.
   * @param options The member cap, history bounds, keep-alive and stale event type.
   * @throws {RangeError} If a count or size option is out of range.
   * @throws {TypeError} If `staleEventType` is not a valid event type.
   */
  constructor(ctx: ChannelObjectState, env: Env, options: ChannelObjectOptions = {}) {
    super(ctx as ConstructorParameters<typeof DurableObject<Env>>[0], env);
    this.#maxMembers = checkCount("maxMembers", options.maxMembers ?? DEFAULT_MAX_MEMBERS, 1);
    this.#retryAfter = checkCount("retryAfter", options.retryAfter ?? DEFAULT_RETRY_AFTER, 0);
    this.#history = checkCount("history", options.history ?? 0, 0);
    this.#keepAlive = options.keepAlive;
    const stallTimeout = options.stallTimeout ?? DEFAULT_STALL_TIMEOUT;
    this.#stallTimeout =
      stallTimeout === false ? false : checkCount("stallTimeout", stallTimeout, 1);
    this.#staleEventType = options.staleEventType ?? "stale";
    this.#name = ctx.id.name ?? ctx.id.toString();
    const store = new SqlEventStore(ctx.storage.sql, {
      ...(options.maxEvents === undefined ? {} : { maxEvents: options.maxEvents }),
      ...(options.maxAge === undefined ? {} : { maxAge: options.maxAge }),
      ...(options.maxEventBytes === undefined ? {} : { maxEventBytes: options.maxEventBytes }),
      onReset: (lastId) => this.#resync(lastId),
    });
    this.#maxEventBytes = options.maxEventBytes ?? 64 * 1024;
    this.#store = store;
    // The store answers at once (SQLite is in the object), so no store timeout can fire.
    this.#channel = new Channel(this.#name, {
      store,
      staleEventType: this.#staleEventType,
    });
    // Checks the option now, with nothing opened yet, rather than on the first stream.
    if (this.#keepAlive !== undefined && this.#keepAlive !== false) {
      checkCount("keepAlive", this.#keepAlive, 1);
    }
  }

  /** The channel this object holds, for a subclass that adds its own routes or RPC methods. */
  protected get channel(): Channel<Events> {
    return this.#channel as unknown as Channel<Events>;
  }

  /**
   * `GET`/`HEAD`: an event stream on the channel; `POST`: broadcasts the body (see the class).
   * A full channel answers `503` with `Retry-After`; other methods `405`.
   */
  override async fetch(request: Request): Promise<Response> {
    const method = request.method;
    if (method === "GET" || method === "HEAD") return this.#join(request);
    if (method === "POST") return await this.#post(request);
    return text(405, "Method Not Allowed", { allow: "GET, HEAD, POST" });
  }

  /**
   * Broadcasts one event to every member, stored first in the history.
   *
   * @param data The payload: a string is sent as is, anything else as JSON.
   * @param init The event's `type` (default `message`) and `retry`.
   * @returns The stored event's id, `<epoch>:<sequence>`.
   * @throws {TypeError} If the type is invalid or the data has no JSON form.
   * @throws {RangeError} If the event is over `maxEventBytes`, or `retry` is out of range.
   */
  async broadcast<Type extends keyof Events & string = "message" & keyof Events>(
    data: Events[Type],
    init: ChannelObjectBroadcastInit<Type> = {},
  ): Promise<string> {
    const { type, retry } = init ?? {};
    const event = await this.#channel.broadcast(data, {
      ...(type === undefined ? {} : { type }),
      ...(retry === undefined ? {} : { retry }),
    });
    return event.id!;
  }

  /** The channel's name, member count and cap, newest id and history length. */
  stats(): ChannelObjectStats {
    return {
      name: this.#name,
      members: this.#members.size,
      maxMembers: this.#maxMembers,
      lastId: this.#store.lastId,
      held: this.#store.length,
    };
  }

  /**
   * Deletes the channel's history and starts a new epoch: every id issued before reads as
   * `stale: "unknown"`. Open streams stay open and are sent one `stale` event, then carry on.
   *
   * @returns The new epoch's "before the first event" id.
   */
  reset(): string {
    return this.#store.reset();
  }

  #join(request: Request): Response {
    if (this.#members.size >= this.#maxMembers) {
      return text(503, "This channel is full", { "retry-after": String(this.#retryAfter) });
    }
    const { response, target } = sendEvents(
      request,
      this.#keepAlive === undefined ? {} : { keepAlive: this.#keepAlive },
    );
    // HEAD gets the headers alone: no member.
    if (request.method === "HEAD") return response;
    this.#members.set(target, { read: false, queued: 0, since: undefined });
    target.addEventListener("close", () => this.#leave(target));
    this.#startWatch();
    // A fresh client's history, read as a resume from the id before it: the channel's own
    // `history` reads the store from its oldest event, every held row (rows read are billed).
    // Only without a Last-Event-ID header: a resuming client, or one whose id could not be read
    // (which the channel answers with `stale`), is the channel's to answer.
    const sent = request.headers.get("last-event-id");
    const fresh = this.#history > 0 && (sent === null || sent === "");
    void this.#channel.register(
      target,
      fresh ? { lastEventId: this.#store.tailId(this.#history) } : {},
    );
    return response;
  }

  #leave(target: ServerSentEventTarget): void {
    this.#members.delete(target);
    if (this.#members.size === 0 && this.#watch !== undefined) {
      clearInterval(this.#watch);
      this.#watch = undefined;
    }
  }

  /** Starts the stall watch: six checks per `stallTimeout`, only while there are members. */
  #startWatch(): void {
    const timeout = this.#stallTimeout;
    if (timeout === false || this.#watch !== undefined) return;
    this.#watch = setInterval(
      () => this.#checkStalls(timeout),
      Math.max(1, Math.ceil(timeout / 6)),
    );
  }

  /**
   * Ends the streams whose response has not been read at all for `timeout`. A read takes
   * everything queued, so a stream whose queue a check finds smaller than at the check before is
   * being sent, and the watch leaves it be from then on (a client that stops reading
   * later is its keep-alive's and `maxBufferedAmount`'s); one whose queue only ever grew was never
   * read. A stream read only in bursts could, rarely, look unread at every check of its first
   * `timeout` under heavy traffic: it is then ended, and its client resumes.
   */
  #checkStalls(timeout: number): void {
    const now = Date.now();
    for (const [target, watch] of this.#members) {
      if (watch.read) continue;
      const queued = target.bufferedAmount;
      if (queued < watch.queued) {
        watch.read = true;
        continue;
      }
      watch.queued = queued;
      // Nothing waiting: nothing to tell (an idle stream's keep-alives are taken at once).
      if (queued === 0) continue;
      if (watch.since === undefined) {
        watch.since = now;
      } else if (now - watch.since >= timeout) {
        this.#channel.unregister(target);
        this.#leave(target);
        // Nobody reads it: aborted at once (reason "error"), not waited on.
        void target.close({ timeout: 0 });
      }
    }
  }

  async #post(request: Request): Promise<Response> {
    const type = new URL(request.url).searchParams.get("type") ?? "message";
    const body = await readText(request, this.#maxEventBytes);
    if (body === undefined) {
      return text(413, `The event is over ${this.#maxEventBytes} bytes`);
    }
    let id: string;
    try {
      id = (await this.#channel.broadcast(body, { type })).id!;
    } catch (error) {
      if (error instanceof RangeError) return text(413, error.message);
      if (error instanceof TypeError) return text(400, error.message);
      throw error;
    }
    return Response.json({ id });
  }

  /**
   * The history was deleted (a new epoch): each open stream is told with one `stale` event, as
   * the channel tells a client it cannot resume, and carries on from the new epoch.
   */
  #resync(lastId: string): void {
    for (const target of this.#members.keys()) {
      this.#channel.unregister(target);
      target.dispatchEvent(
        new ServerSentEvent(this.#staleEventType, { reason: "unknown" }, { id: lastId }),
      );
      void this.#channel.register(target, { lastEventId: lastId });
    }
  }
}
