// h3's event stream, served on node:http through h3/node.
import { createServer } from "node:http";
import { createEventStream, H3 } from "h3";
import { toNodeHandler } from "h3/node";
import { announce, collect, now, payload, query, stats } from "../shared.mjs";

const subscribers = new Set();
const ignore = () => {};
const app = new H3();

app.get("/throughput", (event) => {
  const n = query(event.req.url, "n", 1000);
  const stream = createEventStream(event);
  (async () => {
    for (let i = 0; i < n; i++) await stream.push(payload(i));
    await stream.close();
  })().catch(ignore);
  return stream;
});
app.get("/subscribe", (event) => {
  const stream = createEventStream(event);
  stream.push("ready").catch(ignore);
  subscribers.add(stream);
  stream.onClosed(() => subscribers.delete(stream));
  return stream;
});
app.post("/broadcast", (event) => {
  const m = query(event.req.url, "m", 10);
  for (let i = 0; i < m; i++) {
    const data = payload(i, now());
    for (const stream of subscribers) stream.push(data).catch(ignore);
  }
  return String(subscribers.size);
});
app.get("/once", (event) => {
  const stream = createEventStream(event);
  stream.push(payload(0)).catch(ignore);
  return stream;
});
app.get("/stats", () => stats({ subscribers: subscribers.size }));
app.post("/gc", () => {
  collect();
  return "";
});

const server = createServer(toNodeHandler(app));
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => announce(server.address().port));
