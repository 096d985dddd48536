/**
 * The example app in Hono, with `sendevents/hono`: the same routes as `examples/shared/app.js`,
 * so the conformance suite (`test/conformance/`) drives it on every runtime, plus a chat room that
 * shows the middleware form. The files beside it serve it on Node, Deno, Bun and Workers.
 *
 * - `GET /`: a clock. A named `hello` event, then a message with the time every `?interval=` ms
 *   (default 1000), and after `?count=` ticks (default: never) a `close` event and `target.close()`.
 * - `GET /script`: a fixed sequence of messages, named events, ids, a `retry`, multi-line data and
 *   comments, then `target.close()`.
 * - `GET /silent?after=ms`: nothing but keep-alives; after `after` ms (if given), one message.
 * - `GET /headers`: the caller's headers (`Cache-Control: no-store`, `X-Custom: yes`), one message,
 *   then `target.close()`.
 * - `GET /stats?id=…`: how the stream opened with that `?id=` is doing (see the shared app).
 * - `GET /rooms/:room` and `POST /rooms/:room` (a text body): everyone in the room gets each
 *   message; `Last-Event-ID` is not replayed here (see the resume section of the README).
 *
 * @module
 */
import { Hono } from "hono";
import { ServerSentEvent } from "sendevents";
import { events, serverSentEvents } from "sendevents/hono";

/** How often a tracked stream's ticker counts, in milliseconds. */
const TICK_INTERVAL = 100;
/** Streams tracked for `/stats`, by `?id=`; the oldest are forgotten past this many. */
const MAX_TRACKED = 1000;

/** @type {Map<string, { state: string, reason: string | null, closes: number, ticks: number }>} */
const tracked = new Map();
let open = 0;
/** @type {Record<string, number>} */
const closes = {};

/**
 * Counts `target` in `/stats`, and tracks it by the request's `?id=` if given.
 *
 * @param {import("hono").Context} c
 * @param {import("sendevents").ServerSentEventTarget} target
 */
function track(c, target) {
  open++;
  const id = c.req.query("id");
  const record =
    id === undefined ? undefined : { state: "open", reason: null, closes: 0, ticks: 0 };
  let ticker;
  if (id !== undefined && record) {
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
    }
  });
}

/** @param {import("hono").Context} c @param {string} name @param {number | null} fallback */
function number(c, name, fallback) {
  const value = c.req.query(name);
  return value === undefined ? fallback : Number(value);
}

/** Who is listening in each chat room. @type {Map<string, Set<import("sendevents").ServerSentEventTarget>>} */
const rooms = new Map();
let said = 0;

export const app = new Hono();

app.get(
  "/",
  events((c, target) => {
    track(c, target);
    const interval = number(c, "interval", 1000);
    const count = number(c, "count", Number.POSITIVE_INFINITY);
    target.dispatchEvent(new ServerSentEvent("hello", { framework: "hono" }));
    let ticks = 0;
    const clock = setInterval(() => {
      target.dispatchMessage(new Date().toISOString(), { id: ++ticks });
      if (ticks >= count) {
        target.dispatchEvent(new ServerSentEvent("close", "bye"));
        void target.close();
      }
    }, interval);
    target.addEventListener("close", () => clearInterval(clock));
  }),
);

app.get(
  "/script",
  events((c, target) => {
    track(c, target);
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
    void target.close();
  }),
);

app.get(
  "/silent",
  events((c, target) => {
    track(c, target);
    const after = number(c, "after", null);
    if (after !== null) {
      const timer = setTimeout(() => target.dispatchMessage("still here"), after);
      target.addEventListener("close", () => clearTimeout(timer));
    }
  }),
);

// The middleware form: the handler decides when the response becomes a stream.
app.get("/headers", serverSentEvents(), (c) => {
  const target = c.var.sendEvents({
    headers: { "Cache-Control": "no-store", "X-Custom": "yes" },
  });
  track(c, target);
  target.dispatchMessage("with headers");
  void target.close();
  return c.res;
});

app.get("/stats", (c) => {
  const id = c.req.query("id");
  const body =
    id === undefined ? { open, closes } : (tracked.get(id) ?? { state: "unknown", ticks: 0 });
  c.header("Cache-Control", "no-store");
  return c.json(body);
});

app.get(
  "/rooms/:room",
  events((c, target) => {
    const name = c.req.param("room") ?? "";
    const room = rooms.get(name) ?? new Set();
    rooms.set(name, room);
    room.add(target);
    target.addEventListener("close", () => {
      room.delete(target);
      if (room.size === 0) rooms.delete(name);
    });
    target.dispatchEvent(new ServerSentEvent("joined", { room: name, listeners: room.size }));
  }),
);

app.post("/rooms/:room", async (c) => {
  const text = await c.req.text();
  const event = new ServerSentEvent("said", text, { id: ++said });
  // One event, encoded once, sent to every listener in the room.
  let sent = 0;
  for (const target of rooms.get(c.req.param("room")) ?? []) {
    if (target.dispatchEvent(event)) sent++;
  }
  return c.json({ sent });
});

export default app;
