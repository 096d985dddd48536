/**
 * The cluster demo's load balancer: a small round-robin HTTP proxy on 127.0.0.1. Each request,
 * an event stream's reconnection included, goes to the next instance. `POST /drop` ends every
 * stream it carries, as a proxy timeout or a deploy would: the browsers reconnect, each to the
 * other instance, and resume there. `GET /` is the demo page.
 *
 *   UPSTREAMS=http://127.0.0.1:8001,http://127.0.0.1:8002 PORT=8000 node examples/cluster/proxy.js
 *
 * @module
 */
import { createServer, request as forward } from "node:http";

const upstreams = (process.env.UPSTREAMS ?? "")
  .split(",")
  .filter(Boolean)
  .map((url) => new URL(url));
if (upstreams.length === 0)
  throw new Error("Set UPSTREAMS to the instances' URLs, comma-separated");
let next = 0;
const open = new Set();

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>sendevents: cluster</title>
<style>body{font:16px system-ui;margin:2em} b{font-variant-numeric:tabular-nums}</style>
<p>Served by <b id="instance">…</b>; reconnects: <b id="reconnects">0</b>;
ticks: <b id="ticks">0</b>, missed: <b id="missed">0</b>, repeated: <b id="repeated">0</b>; stale: <b id="stale">0</b></p>
<p id="tick"></p>
<p><button id="drop">Drop every stream</button> (each reconnects through the proxy, to the other instance)</p>
<form><input name="text" autocomplete="off" placeholder="Say something"><button>Send</button></form>
<ol id="log"></ol>
<script>
  const $ = (id) => document.getElementById(id);
  const count = (id) => ($(id).textContent = Number($(id).textContent) + 1);
  const source = new EventSource("/events");
  let last = 0;
  let hellos = 0;
  source.addEventListener("hello", (event) => {
    $("instance").textContent = event.data;
    if (hellos++ > 0) count("reconnects");
  });
  source.addEventListener("tick", (event) => {
    const { tick, at, by } = JSON.parse(event.data);
    // Ticks are numbered: a jump would be a lost tick, a step back a repeated one.
    if (last !== 0 && tick > last + 1) $("missed").textContent = Number($("missed").textContent) + tick - last - 1;
    if (last !== 0 && tick <= last) count("repeated");
    last = tick;
    count("ticks");
    $("tick").textContent = at + " (tick " + tick + " from " + by + ", id " + event.lastEventId + ")";
  });
  source.addEventListener("chat", (event) => {
    const item = document.createElement("li");
    item.textContent = event.data;
    $("log").append(item);
  });
  source.addEventListener("stale", () => count("stale"));
  $("drop").addEventListener("click", () => fetch("/drop", { method: "POST" }));
  document.querySelector("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = event.target.elements.text;
    fetch("/messages", { method: "POST", body: input.value });
    input.value = "";
  });
</script>`;

const server = createServer((req, res) => {
  if (req.url === "/" && req.method === "GET") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(PAGE);
    return;
  }
  if (req.url === "/drop" && req.method === "POST") {
    const dropped = open.size;
    for (const stream of open) stream.destroy();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ dropped }));
    return;
  }
  const upstream = upstreams[next++ % upstreams.length];
  const outgoing = forward(
    {
      host: upstream.hostname,
      port: upstream.port,
      method: req.method,
      path: req.url,
      headers: req.headers,
    },
    (incoming) => {
      res.writeHead(incoming.statusCode ?? 502, incoming.headers);
      incoming.pipe(res);
      if (String(incoming.headers["content-type"]).startsWith("text/event-stream")) {
        open.add(incoming);
        incoming.once("close", () => {
          open.delete(incoming);
          res.destroy(); // the upstream went: the browser reconnects
        });
      }
    },
  );
  outgoing.on("error", () => {
    if (!res.headersSent) res.writeHead(502).end("instance unreachable");
    else res.destroy();
  });
  res.on("close", () => outgoing.destroy());
  req.pipe(outgoing);
});
server.listen(Number(process.env.PORT ?? 8000), "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}/`);
});
for (const signal of ["SIGINT", "SIGTERM"]) process.once(signal, () => process.exit(0));
