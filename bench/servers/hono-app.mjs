// Hono's own streamSSE helper, doing the same work as the other servers.
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { collect, now, payload, query, stats } from "../shared.mjs";

const subscribers = new Set();
const ignore = () => {};
export const app = new Hono();

app.get("/throughput", (c) =>
  streamSSE(c, async (stream) => {
    const n = query(c.req.url, "n", 1000);
    for (let i = 0; i < n && !stream.aborted; i++) await stream.writeSSE({ data: payload(i) });
  }),
);
app.get("/subscribe", (c) =>
  streamSSE(c, async (stream) => {
    await stream.writeSSE({ data: "ready" });
    subscribers.add(stream);
    // streamSSE ends the response when this callback returns: hold it until the client leaves.
    await new Promise((resolve) => stream.onAbort(resolve));
    subscribers.delete(stream);
  }),
);
app.post("/broadcast", (c) => {
  const m = query(c.req.url, "m", 10);
  for (let i = 0; i < m; i++) {
    const message = { data: payload(i, now()) };
    for (const stream of subscribers) stream.writeSSE(message).catch(ignore);
  }
  return c.text(String(subscribers.size));
});
app.get("/once", (c) =>
  streamSSE(c, async (stream) => {
    await stream.writeSSE({ data: payload(0) });
    await new Promise((resolve) => stream.onAbort(resolve));
  }),
);
app.get("/stats", (c) => c.text(stats({ subscribers: subscribers.size })));
app.post("/gc", (c) => {
  collect();
  return c.text("");
});
