// The real ceiling on Node: a hand-tuned node:http server that coalesces frames per connection.
// Everything written to one connection in one turn of the event loop leaves in one res.write (a
// string per connection, flushed by one setImmediate for all of them); a single fast stream is
// written in 64 KiB batches; `drain` is the backpressure. Our code, written for the bench.
import { createServer } from "node:http";
import { announce, collect, now, payload, query, stats } from "../shared.mjs";

const HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };
const BATCH = 64 * 1024;
/**
 * With TUNED_CONTRACT=1, the same server also does what sendevents' contract makes any server do:
 * its producer awaits a promise before every event (what `await target.ready` is when nothing is
 * queued), every payload is checked for CR and LF (which must split it into `data:` lines),
 * every request becomes a Fetch `Request` (what a fetch handler is given), and the stream's head
 * carries the seed's default headers. The floor that the contract itself sets under the goals,
 * measured beside the others.
 */
const CONTRACT = process.env.TUNED_CONTRACT === "1";
/** The seed's default response headers, which the contract sends with every stream. */
const CONTRACT_HEADERS = {
  "cache-control": "no-cache",
  connection: "Keep-Alive",
  "content-type": "text/event-stream",
  "keep-alive": "timeout=9007199254740991",
  "x-accel-buffering": "no",
};
const STREAM_HEADERS = CONTRACT ? CONTRACT_HEADERS : HEADERS;
const RESOLVED = Promise.resolve();

/** A payload that holds a line break would need one `data:` line per line: not the bench's. */
function checked(data) {
  if (data.indexOf("\n") !== -1 || data.indexOf("\r") !== -1) throw new TypeError("line break");
  return data;
}

/**
 * The Fetch `Request` a fetch handler would be given for `req`, made the cheapest way undici
 * allows: the fields as a record (the bench's clients never send a name twice), GET left unnamed.
 */
function fetchRequest(req) {
  const raw = req.rawHeaders;
  const headers = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]] = raw[i + 1];
  const url = `http://${req.headers.host}${req.url}`;
  return new Request(url, req.method === "GET" ? { headers } : { method: req.method, headers });
}

/** One connection: what is waiting to be written, and whether the socket said to wait. */
class Connection {
  pending = "";
  blocked = false;
  dirty = false;
  constructor(res) {
    this.res = res;
    res.on("drain", () => {
      this.blocked = false;
      if (this.pending !== "") this.flush();
    });
  }
  flush() {
    const text = this.pending;
    this.pending = "";
    if (!this.res.write(text)) this.blocked = true;
  }
}

const subscribers = new Set();
/** Connections written to in this turn, flushed together on the next check phase. */
let dirty = [];
let scheduled = false;

function flushDirty() {
  scheduled = false;
  const list = dirty;
  dirty = [];
  for (const connection of list) {
    connection.dirty = false;
    if (!connection.blocked && connection.pending !== "") connection.flush();
  }
}

function send(connection, frame) {
  connection.pending += frame;
  if (!connection.dirty) {
    connection.dirty = true;
    dirty.push(connection);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flushDirty);
    }
  }
}

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
    res.writeHead(200, STREAM_HEADERS);
    let batch = "";
    for (let i = 0; i < n; i++) {
      if (CONTRACT) {
        await RESOLVED;
        batch += `data: ${checked(payload(i))}\n\n`;
      } else batch += `data: ${payload(i)}\n\n`;
      if (batch.length >= BATCH) {
        const more = res.write(batch);
        batch = "";
        if (!more) await drain(res);
        if (res.destroyed) return;
      }
    }
    res.end(batch);
  } else if (path === "/subscribe") {
    if (CONTRACT && fetchRequest(req).method !== req.method) throw new Error("unreachable");
    res.writeHead(200, STREAM_HEADERS);
    res.write("data: ready\n\n");
    const connection = new Connection(res);
    subscribers.add(connection);
    res.on("close", () => subscribers.delete(connection));
  } else if (path === "/broadcast") {
    const m = query(req.url, "m", 10);
    for (let i = 0; i < m; i++) {
      const frame = `data: ${payload(i, now())}\n\n`;
      for (const connection of subscribers) send(connection, frame);
    }
    res.end(String(subscribers.size));
  } else if (path === "/once") {
    if (CONTRACT && fetchRequest(req).method !== req.method) throw new Error("unreachable");
    res.writeHead(200, STREAM_HEADERS);
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
