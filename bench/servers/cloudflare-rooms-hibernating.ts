// The hibernation layout of bench/cloudflare.mjs (--hibernating), a bench-only prototype: not the
// shipped adapter. Served in local workerd by test/runtimes/miniflare-server.mjs, beside the simple layout
// (bench/servers/cloudflare-rooms.ts), with the same routes:
// - GET /subscribe: the Worker opens the client's SSE response itself (sendEvents, so keep-alive,
//   ids and `stale` are the core's), and one WebSocket to the room for this request (an I/O object
//   belongs to the request that made it, so each stream needs its own). The object accepts it
//   with the Hibernation API (ctx.acceptWebSocket) and, before answering the upgrade, replays
//   over it what the client missed (its Last-Event-ID, forwarded in the upgrade request; no id:
//   the last event, as `history: 1` does in the simple layout) or one `stale`; then every
//   broadcast. The Worker writes each message to the stream as one event.
// - POST /publish-one: the room's RPC `broadcast`: SqlEventStore append, then one `ws.send` of
//   the same frame per socket (ctx.getWebSockets()).
// - GET /stats: members (hibernatable sockets), and `instance`, a random id made in the object's
//   constructor: it changes when workerd evicted the object and a request built it again.
// What the object holds between broadcasts: its sockets (hibernatable), nothing else: no timer
// (keep-alives are the Worker's), no open request, no pending promise.
import { DurableObject } from "cloudflare:workers";
import { ServerSentEvent, sendEvents } from "sendevents";
import { SqlEventStore } from "sendevents/cloudflare";

interface Env {
  HIBERNATING: DurableObjectNamespace<HibernatingRoom>;
}

/** One message from the object to a Worker: an event, or the `stale` of a resume. */
type Frame = [id: string, type: string, data: string] | [stale: null, reason: string, id: string];

export class HibernatingRoom extends DurableObject<Env> {
  readonly #store: SqlEventStore;
  readonly #instance = crypto.randomUUID();
  readonly #constructedAt = Date.now();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new SqlEventStore(ctx.storage.sql, { maxEvents: 10_000 });
    // Answered by the runtime without waking the object (not used by the bench's Worker, whose
    // keep-alives go to its own client; a Worker that wanted to check its socket could ping).
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /** The upgrade of one stream: replay first (synchronously, so no broadcast comes between). */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("upgrade") !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const sent = request.headers.get("last-event-id");
    const after = sent === null || sent === "" ? this.#store.tailId(1) : sent;
    // The store answers at once: `await` of a settled promise runs before any other event.
    const result = await this.#store.read(after);
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    if (result.stale !== undefined) {
      server.send(JSON.stringify([null, result.stale, result.lastId] satisfies Frame));
    } else {
      for (const event of result.events) {
        server.send(JSON.stringify([event.id!, event.type, event.data] satisfies Frame));
      }
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  async broadcast(data: string, type = "message"): Promise<string> {
    const event = await this.#store.append({ type, data });
    const frame = JSON.stringify([event.id!, event.type, event.data] satisfies Frame);
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(frame);
      } catch {
        // Closing: its webSocketClose follows.
      }
    }
    return event.id!;
  }

  stats(): { members: number; instance: string; constructedAt: number; lastId: string } {
    return {
      members: this.ctx.getWebSockets().length,
      instance: this.#instance,
      constructedAt: this.#constructedAt,
      lastId: this.#store.lastId,
    };
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      // Already closed.
    }
  }

  override webSocketError(ws: WebSocket): void {
    try {
      ws.close(1011, "error");
    } catch {
      // Already closed.
    }
  }
}

/** The stall watch of one stream, as ChannelObject's `stallTimeout` (shorter: the bench waits 20 s). */
const STALL_TIMEOUT = 10_000;

/**
 * Ends a stream whose response is never read (local workerd drops some responses of clients that
 * leave while broadcasts run without cancelling them, as the shipped adapter's README says): the
 * same rule as ChannelObject's stall watch, here in the Worker, which holds the stream. Its timer
 * is the Worker request's, not the object's: it does not keep the object awake.
 */
function watchStall(target: {
  bufferedAmount: number;
  close(init?: { timeout?: number }): unknown;
}) {
  let queued = 0;
  let since: number | undefined;
  const timer = setInterval(() => {
    const now = Date.now();
    const size = target.bufferedAmount;
    if (size < queued) {
      clearInterval(timer);
      return;
    }
    queued = size;
    if (size === 0) return;
    if (since === undefined) since = now;
    else if (now - since >= STALL_TIMEOUT) {
      clearInterval(timer);
      void target.close({ timeout: 0 });
    }
  }, STALL_TIMEOUT / 6);
  return () => clearInterval(timer);
}

/** One client's stream: its own WebSocket to the room, each message written as one event. */
async function subscribe(request: Request, room: DurableObjectStub<HibernatingRoom>) {
  const headers = new Headers({ upgrade: "websocket" });
  const sent = request.headers.get("last-event-id");
  if (sent !== null) headers.set("last-event-id", sent);
  const upgraded = await room.fetch("http://room/connect", { headers });
  const ws = upgraded.webSocket;
  if (ws === null) return new Response("the room refused", { status: 502 });
  const { response, target } = sendEvents(request);
  ws.accept();
  ws.addEventListener("message", (message) => {
    const frame = JSON.parse(message.data as string) as Frame;
    if (frame[0] === null) {
      target.dispatchEvent(new ServerSentEvent("stale", { reason: frame[1] }, { id: frame[2] }));
    } else {
      target.dispatchEvent(new ServerSentEvent(frame[1], frame[2], { id: frame[0] }));
    }
  });
  ws.addEventListener("close", () => void target.close());
  ws.addEventListener("error", () => void target.close());
  const unwatch = watchStall(target);
  target.addEventListener("close", () => {
    unwatch();
    try {
      ws.close(1000, "client left");
    } catch {
      // Already closed.
    }
  });
  return response;
}

export default {
  async fetch(request, env): Promise<Response> {
    const room = env.HIBERNATING.getByName("bench");
    const path = new URL(request.url).pathname;
    if (path === "/subscribe") return subscribe(request, room);
    if (path === "/publish-one") return new Response(await room.broadcast(await request.text()));
    if (path === "/stats") return Response.json(await room.stats());
    return new Response("not found", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
