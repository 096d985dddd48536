/**
 * The conformance app (`examples/shared/app.js`) with the routes the client's tests need under
 * `/client/`; every other path goes to the conformance app. A module-syntax fetch handler on web
 * standards only, served on Node, Deno, Bun and workerd by `test/client/serve-*.mjs` (workerd
 * runs this module itself).
 *
 * - `GET /client/feed?room=&drop=ms`: `tick` events (`{ n }`, n counting from 1 per room) through
 *   a `Channel`: the stream opens with `retry: 20`, three ticks are broadcast (what a returning
 *   client missed), the stream is registered (replay after `Last-Event-ID`, or a `stale` event),
 *   then a tick every 20 ms until the server closes the stream `drop` ms later.
 * - `GET /client/retry?ms=&key=`: `retry: ms` and one message with an id, then the end.
 * - `GET /client/done?key=`: one event with id `1`, then the end; with `Last-Event-ID: 1`, `204`.
 * - `POST /client/tokens?key=`: the JSON body's `prompt`, echoed word by word as `token` events
 *   (ids 1, 2, ...) resuming after `Last-Event-ID`, then `done`; once done, `204`.
 * - `GET /client/status?code=&times=&key=`: answers `code` (with `Retry-After: 0`) the first
 *   `times` requests of `key`, then streams one message and ends.
 * - `GET /client/requests?key=`: JSON, the method, `Last-Event-ID`, `Authorization` and body of
 *   each request made with that `key`.
 *
 * @module
 */
import { Channel, MemoryEventStore, ServerSentEvent, sendEvents } from "sendevents";
import app from "../../examples/shared/app.js";

const TICK = 20;
/** Ticks broadcast before a stream registers: what a client missed while it was away. */
const MISSED = 3;
/** @type {Map<string, { method: string, lastEventId: string | null, authorization: string | null, body: string }[]>} */
const requests = new Map();
/** Each feed's store and tick count, by `?room=`, made on first use (Workers allow no randomness at module scope). */
const rooms = new Map();

/**
 * A feed stream: the room's store is shared, but its `Channel` is this request's own, and so are
 * the timers, because a Worker cannot write to one request's stream from another's.
 */
function feedStream(request, url, options) {
  const name = url.searchParams.get("room") ?? "";
  let room = rooms.get(name);
  if (room === undefined) {
    room = { store: new MemoryEventStore({ maxEvents: 10_000 }), ticks: 0 };
    rooms.set(name, room);
  }
  const channel = new Channel("feed", { store: room.store });
  const { response, target } = sendEvents(request, options);
  target.dispatchEvent(new ServerSentEvent("hello", {}, { retry: TICK }));
  const tick = () => channel.broadcast({ n: ++room.ticks }, { type: "tick" });
  let ticker;
  void (async () => {
    for (let i = 0; i < MISSED; i++) await tick();
    await channel.register(target);
    if (!target.closed) ticker = setInterval(() => void tick(), TICK);
  })();
  const drop = Number(url.searchParams.get("drop") ?? "0");
  const timer = drop > 0 ? setTimeout(() => void target.close(), drop) : undefined;
  target.addEventListener("close", () => {
    clearTimeout(timer);
    clearInterval(ticker);
  });
  return response;
}

/** Remembers a request made with `?key=`. */
async function log(request, url) {
  const key = url.searchParams.get("key");
  const body = request.method === "POST" ? await request.text() : "";
  if (key !== null && url.pathname !== "/client/requests") {
    const list = requests.get(key) ?? [];
    requests.set(key, list);
    list.push({
      method: request.method,
      lastEventId: request.headers.get("last-event-id"),
      authorization: request.headers.get("authorization"),
      body,
    });
  }
  return body;
}

function countOf(key) {
  return requests.get(key ?? "")?.length ?? 0;
}

export default {
  /**
   * @param {Request} request
   * @param {unknown} [env]
   * @param {{ waitUntil(promise: Promise<unknown>): void }} [ctx]
   * @returns {Promise<Response>}
   */
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/client/")) return app.fetch(request, env, ctx);
    const waitUntil = ctx?.waitUntil?.bind(ctx);
    const options = waitUntil ? { waitUntil } : {};
    const body = await log(request, url);
    const key = url.searchParams.get("key");
    switch (url.pathname) {
      case "/client/feed":
        return feedStream(request, url, options);
      case "/client/retry": {
        const { response, target } = sendEvents(request, options);
        const ms = Number(url.searchParams.get("ms"));
        target.dispatchMessage(`attempt ${countOf(key)}`, { id: countOf(key), retry: ms });
        void target.close();
        return response;
      }
      case "/client/done": {
        if (request.headers.get("last-event-id") === "1")
          return new Response(null, { status: 204 });
        const { response, target } = sendEvents(request, options);
        target.dispatchEvent(new ServerSentEvent("result", { ok: true }, { id: 1, retry: 10 }));
        void target.close();
        return response;
      }
      case "/client/tokens": {
        if (request.method !== "POST") return new Response("POST only\n", { status: 405 });
        const words = String(JSON.parse(body).prompt).split(" ");
        const after = Number(request.headers.get("last-event-id") ?? "0");
        if (after >= words.length) return new Response(null, { status: 204 });
        const { response, target } = sendEvents(request, options);
        // A drop after the third token of the first attempt, to resume from.
        const end = after === 0 ? Math.min(3, words.length) : words.length;
        for (let i = after; i < end; i++) {
          target.dispatchEvent(
            new ServerSentEvent("token", (i === 0 ? "" : " ") + words[i], { id: i + 1, retry: 10 }),
          );
        }
        if (end === words.length) {
          target.dispatchEvent(new ServerSentEvent("done", { tokens: words.length }));
        }
        void target.close();
        return response;
      }
      case "/client/status": {
        const code = Number(url.searchParams.get("code"));
        const times = Number(url.searchParams.get("times") ?? "1");
        if (countOf(key) <= times) {
          return new Response(`status ${code}\n`, {
            status: code,
            headers: { "retry-after": "0" },
          });
        }
        const { response, target } = sendEvents(request, options);
        target.dispatchMessage("finally", { id: "ok" });
        void target.close();
        return response;
      }
      case "/client/requests":
        return Response.json(requests.get(key ?? "") ?? [], {
          headers: { "cache-control": "no-store" },
        });
      default:
        return new Response("Not found\n", { status: 404 });
    }
  },
};
