// better-sse on node:http: sessions, and a channel for the broadcast.
import { createServer } from "node:http";
import { createChannel, createSession } from "better-sse";
import { announce, collect, now, payload, query, stats } from "../shared.mjs";

const channel = createChannel();
const options = { serializer: String, keepAlive: null, retry: null };

const server = createServer({ noDelay: true }, async (req, res) => {
  const path = req.url.split("?")[0];
  if (path === "/throughput") {
    const n = query(req.url, "n", 1000);
    const session = await createSession(req, res, options);
    // better-sse has no backpressure signal: push in slices and let I/O run between them.
    for (let i = 0; i < n && session.isConnected; i++) {
      session.push(payload(i));
      if (i % 256 === 255) await new Promise((resolve) => setImmediate(resolve));
    }
    res.end();
  } else if (path === "/subscribe") {
    const session = await createSession(req, res, options);
    session.push("ready");
    channel.register(session);
  } else if (path === "/broadcast") {
    const m = query(req.url, "m", 10);
    for (let i = 0; i < m; i++) channel.broadcast(payload(i, now()));
    res.end(String(channel.sessionCount));
  } else if (path === "/once") {
    const session = await createSession(req, res, options);
    session.push(payload(0));
  } else if (path === "/stats") {
    res.end(stats({ subscribers: channel.sessionCount }));
  } else if (path === "/gc") {
    collect();
    res.end();
  } else {
    res.writeHead(404).end();
  }
});
server.listen(Number(process.env.PORT ?? 0), "127.0.0.1", () => announce(server.address().port));
