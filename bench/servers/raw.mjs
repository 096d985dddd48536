// The ceiling: node:http writing preformatted frames with res.write.
import { createServer } from "node:http";
import { announce, collect, now, payload, query, stats } from "../shared.mjs";

const HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };
const subscribers = new Set();

function drain(res) {
  return new Promise((resolve) => {
    const done = () => {
      res.off("drain", done);
      res.off("close", done);
      resolve();
    };
    res.on("drain", done);
    res.on("close", done);
  });
}

const server = createServer({ noDelay: true }, async (req, res) => {
  const path = req.url.split("?")[0];
  if (path === "/throughput") {
    const n = query(req.url, "n", 1000);
    res.writeHead(200, HEADERS);
    for (let i = 0; i < n; i++) {
      if (!res.write(`data: ${payload(i)}\n\n`)) await drain(res);
      if (res.destroyed) return;
    }
    res.end();
  } else if (path === "/subscribe") {
    res.writeHead(200, HEADERS);
    res.write("data: ready\n\n");
    subscribers.add(res);
    res.on("close", () => subscribers.delete(res));
  } else if (path === "/broadcast") {
    const m = query(req.url, "m", 10);
    for (let i = 0; i < m; i++) {
      const frame = `data: ${payload(i, now())}\n\n`;
      for (const sub of subscribers) sub.write(frame);
    }
    res.end(String(subscribers.size));
  } else if (path === "/once") {
    res.writeHead(200, HEADERS);
    res.write(`data: ${payload(0)}\n\n`);
  } else if (path === "/stats") {
    res.end(stats({ subscribers: subscribers.size }));
  } else if (path === "/gc") {
    collect();
    res.end();
  } else {
    res.writeHead(404).end();
  }
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => announce(server.address().port));
