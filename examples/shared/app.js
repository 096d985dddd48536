/**
 * The example app, the same on every runtime: a module-syntax fetch handler
 * (`export default { fetch(request, env, ctx) }`) that uses only web standards and `sendevents`.
 * Each `examples/<runtime>/` folder serves it in that runtime's own way, and the conformance suite
 * (`test/conformance/`) drives it there.
 *
 * - `GET /`: a clock. A named `hello` event, then a message with the time every `?interval=` ms
 *   (default 1000), and after `?count=` ticks (default: never) a `close` event and `target.close()`.
 * - `GET /script`: a fixed sequence of messages, named events, ids, a `retry`, multi-line data and
 *   comments, then `target.close()`. Every runtime must deliver it byte for byte as Node does.
 * - `GET /silent?after=ms`: nothing but keep-alives; after `after` ms (if given), one message.
 * - `GET /headers`: the caller's headers (`Cache-Control: no-store`, `X-Custom: yes`), one message,
 *   then `target.close()`.
 * - `GET /stats?id=…`: JSON about the stream opened with that `?id=`: `state` (`"open"` or
 *   `"closed"`), the `reason` and count of its `close` events, when it closed (`closedAt`,
 *   `Date.now()`), and `ticks`, a per-stream timer cleared on `close`: once the stream has closed
 *   the count must stop. Without `?id=`: how many
 *   streams are open and how many closed, by reason.
 *
 * Any stream opened with `?id=…` is tracked for `/stats`.
 *
 * @module
 */
import { ServerSentEvent, sendEvents } from "sendevents";

/** How often a tracked stream's ticker counts, in milliseconds. */
const TICK_INTERVAL = 100;
/** Streams tracked for `/stats`, by `?id=`; the oldest are forgotten past this many. */
const MAX_TRACKED = 1000;

/**
 * @type {Map<string, {
 *   state: string, reason: string | null, closes: number, ticks: number, closedAt: number | null
 * }>}
 */
const tracked = new Map();
let open = 0;
/** @type {Record<string, number>} */
const closes = {};

/**
 * Opens an event stream for `request`, counted in `/stats` and tracked by its `?id=` if given.
 *
 * @param {Request} request
 * @param {{ waitUntil?: (promise: Promise<unknown>) => void } | undefined} ctx
 * @param {import("sendevents").SendEventsOptions} [options]
 */
function openStream(request, ctx, options = {}) {
  // Workers stop a request's timers once the handler returns unless the work is registered.
  const waitUntil = ctx?.waitUntil?.bind(ctx);
  const { response, target } = sendEvents(request, waitUntil ? { ...options, waitUntil } : options);
  open++;
  const id = new URL(request.url).searchParams.get("id");
  const record =
    id === null ? undefined : { state: "open", reason: null, closes: 0, ticks: 0, closedAt: null };
  let ticker;
  if (id !== null && record) {
    if (tracked.size >= MAX_TRACKED) tracked.delete(tracked.keys().next().value);
    tracked.set(id, record);
    ticker = setInterval(() => record.ticks++, TICK_INTERVAL);
  }
  target.addEventListener("close", (event) => {
    clearInterval(ticker);
    open--;
    closes[event.reason] = (closes[event.reason] ?? 0) + 1;
    if (record) {
      record.state = "closed";
      record.reason = event.reason;
      record.closes++;
      record.closedAt ??= Date.now();
    }
  });
  return { response, target };
}

/** The fixed sequence `/script` sends. */
function script(target) {
  target.dispatchComment("a comment\non two lines");
  target.dispatchMessage("plain text");
  target.dispatchMessage({ json: true, n: 1 });
  target.dispatchEvent(new ServerSentEvent("greeting", "hello", { id: 1 }));
  target.dispatchEvent(
    new ServerSentEvent("multi", "line 1\nline 2\r\nline 3\rline 4", { id: "two" }),
  );
  target.dispatchMessage("", { id: 0 });
  target.dispatchMessage(" leading space", { retry: 2500 });
  target.dispatchMessage("ünïcødé ✓ 🎉");
  target.dispatchMessage("trailing newline\n");
  target.dispatchEvent(new ServerSentEvent("close", "bye"));
}

function number(url, name, fallback) {
  const value = url.searchParams.get(name);
  return value === null ? fallback : Number(value);
}

export default {
  /**
   * @param {Request} request
   * @param {unknown} [_env]
   * @param {{ waitUntil(promise: Promise<unknown>): void }} [ctx]
   * @returns {Response}
   */
  fetch(request, _env, ctx) {
    const url = new URL(request.url);
    switch (url.pathname) {
      case "/": {
        const interval = number(url, "interval", 1000);
        const count = number(url, "count", Number.POSITIVE_INFINITY);
        const { response, target } = openStream(request, ctx);
        target.dispatchEvent(new ServerSentEvent("hello", { runtime: runtimeName() }));
        let ticks = 0;
        const clock = setInterval(() => {
          target.dispatchMessage(new Date().toISOString(), { id: ++ticks });
          if (ticks >= count) {
            target.dispatchEvent(new ServerSentEvent("close", "bye"));
            void target.close();
          }
        }, interval);
        target.addEventListener("close", () => clearInterval(clock));
        return response;
      }
      case "/script": {
        const { response, target } = openStream(request, ctx);
        script(target);
        void target.close();
        return response;
      }
      case "/silent": {
        const after = number(url, "after", null);
        const { response, target } = openStream(request, ctx);
        if (after !== null) {
          const timer = setTimeout(() => target.dispatchMessage("still here"), after);
          target.addEventListener("close", () => clearTimeout(timer));
        }
        return response;
      }
      case "/headers": {
        const { response, target } = openStream(request, ctx, {
          headers: { "Cache-Control": "no-store", "X-Custom": "yes" },
        });
        target.dispatchMessage("with headers");
        void target.close();
        return response;
      }
      case "/stats": {
        const id = url.searchParams.get("id");
        const body =
          id === null ? { open, closes } : (tracked.get(id) ?? { state: "unknown", ticks: 0 });
        return Response.json(body, { headers: { "cache-control": "no-store" } });
      }
      default:
        return new Response("Not found\n", { status: 404 });
    }
  },
};

/** Which runtime serves the app, as far as globals tell. */
function runtimeName() {
  const g = /** @type {Record<string, any>} */ (globalThis);
  if (g.Deno) return "deno";
  if (g.Bun) return "bun";
  if (g.EdgeRuntime) return "edge";
  if (g.navigator?.userAgent === "Cloudflare-Workers") return "workerd";
  if (g.process?.versions?.node) return `node ${g.process.versions.node}`;
  return "unknown";
}
