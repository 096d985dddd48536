// The hand-tuned ceiling for a fetch runtime (Deno, Bun): no library, a ReadableStream body per
// stream, frames written by hand. A single fast stream is pulled in 64 KiB batches; a broadcast
// adds its frame to each connection's pending string, and one microtask encodes and enqueues
// each connection's text once. Our code, written for the bench.
import { collect, now, pathOf, payload, query, stats } from "../shared.mjs";

const HEADERS = { "content-type": "text/event-stream", "cache-control": "no-cache" };
const BATCH = 64 * 1024;
const encoder = new TextEncoder();

/** One connection: its body's controller and the text waiting for the next flush. */
class Connection {
  pending = "";
  dirty = false;
  constructor(controller) {
    this.controller = controller;
  }
}

const subscribers = new Set();
let dirty = [];
let scheduled = false;

function flushDirty() {
  scheduled = false;
  const list = dirty;
  dirty = [];
  for (const connection of list) {
    connection.dirty = false;
    const text = connection.pending;
    connection.pending = "";
    try {
      connection.controller.enqueue(encoder.encode(text));
    } catch {
      subscribers.delete(connection); // the client left
    }
  }
}

function send(connection, frame) {
  connection.pending += frame;
  if (!connection.dirty) {
    connection.dirty = true;
    dirty.push(connection);
    if (!scheduled) {
      scheduled = true;
      queueMicrotask(flushDirty);
    }
  }
}

export function handler(request) {
  const path = pathOf(request.url);
  if (path === "/throughput") {
    const n = query(request.url, "n", 1000);
    let i = 0;
    const body = new ReadableStream(
      {
        pull(controller) {
          let batch = "";
          while (i < n && batch.length < BATCH) batch += `data: ${payload(i++)}\n\n`;
          controller.enqueue(encoder.encode(batch));
          if (i >= n) controller.close();
        },
      },
      { highWaterMark: 0 },
    );
    return new Response(body, { headers: HEADERS });
  }
  if (path === "/subscribe") {
    let connection;
    const body = new ReadableStream({
      start(controller) {
        connection = new Connection(controller);
        controller.enqueue(encoder.encode("data: ready\n\n"));
        subscribers.add(connection);
      },
      cancel() {
        subscribers.delete(connection);
      },
    });
    return new Response(body, { headers: HEADERS });
  }
  if (path === "/broadcast") {
    const m = query(request.url, "m", 10);
    for (let i = 0; i < m; i++) {
      const frame = `data: ${payload(i, now())}\n\n`;
      for (const connection of subscribers) send(connection, frame);
    }
    return new Response(String(subscribers.size));
  }
  if (path === "/once") {
    const body = new ReadableStream({
      start(controller) {
        controller.enqueue(encoder.encode(`data: ${payload(0)}\n\n`));
      },
    });
    return new Response(body, { headers: HEADERS });
  }
  if (path === "/stats") return new Response(stats({ subscribers: subscribers.size }));
  if (path === "/gc") {
    collect();
    return new Response("");
  }
  return new Response(null, { status: 404 });
}
