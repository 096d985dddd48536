// The same routes twice, once with sendevents/hono and once with Hono's streamSSE, for
// compare-stream-sse.ts. Each stream records what it saw at /seen/:key.
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { events } from "../../adapters/hono.ts";

const seen = new Map<string, string[]>();
const started = new Map<string, number>();
function note(key: string | undefined, what: string): void {
  if (key === undefined) return;
  const list = seen.get(key) ?? [];
  list.push(`${what} +${Date.now() - (started.get(key) ?? Date.now())}ms`);
  seen.set(key, list);
}

const app = new Hono();
// A silent stream: how does each learn that the client left?
app.get(
  "/ours/silent",
  events(
    (c, target) => {
      const key = c.req.query("key");
      target.addEventListener("close", (event) => note(key, `close(${event.reason})`));
    },
    { keepAlive: 1000 },
  ),
);
app.get("/theirs/silent", (c) =>
  streamSSE(c, async (stream) => {
    const key = c.req.query("key");
    stream.onAbort(() => note(key, "onAbort"));
    c.req.raw.signal.addEventListener("abort", () => note(key, "request.signal abort"));
    // Hold the stream open, writing a comment every second as our keep-alive does.
    while (!stream.aborted && !stream.closed) {
      await stream.write(":\n\n");
      await stream.sleep(1000);
    }
    note(key, "loop ended");
  }),
);
// A callback that sends one event and returns.
app.get(
  "/ours/return",
  events((_c, target) => {
    target.dispatchMessage("hello");
  }),
);
app.get("/theirs/return", (c) =>
  streamSSE(c, async (stream) => {
    await stream.writeSSE({ data: "hello" });
  }),
);
app.get("/seen/:key", (c) => c.json(seen.get(c.req.param("key")) ?? []));
app.post("/start/:key", (c) => {
  started.set(c.req.param("key"), Date.now());
  return c.text("ok");
});

export default app;
