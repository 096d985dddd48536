// A server for test/node-idle-memory.test.ts: every request gets an idle event stream, from the
// Node adapter or (argument "raw") from a hand-written node:http baseline. Answers "held" with the
// bytes the process holds after full collections, "heads" with how many response heads it holds.
import { readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeHeapSnapshot } from "node:v8";
import { serve } from "../dist/adapters/node.js";
import { sendEvents } from "../dist/src/index.js";

const collect = globalThis.gc;
async function held() {
  for (let i = 0; i < 3; i++) {
    collect();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

/** The hand-written baseline: the bench's tuned server's idle path (a head, a frame, a set). */
async function raw() {
  const open = new Set();
  const server = createServer({ noDelay: true }, (_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    res.write("data: ready\n\n");
    const connection = { res, pending: "" };
    open.add(connection);
    res.on("close", () => open.delete(connection));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: server.address().port,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/**
 * How many strings in the heap are response heads ("HTTP/1.1 200 ..."), and the longest one's
 * length: from a heap snapshot.
 */
function heads() {
  collect();
  const file = writeHeapSnapshot(join(tmpdir(), `sendevents-heads-${process.pid}.heapsnapshot`));
  try {
    const { snapshot, nodes, strings } = JSON.parse(readFileSync(file, "utf8"));
    const fields = snapshot.meta.node_fields;
    const types = snapshot.meta.node_types[0];
    const [type, name] = [fields.indexOf("type"), fields.indexOf("name")];
    const self = fields.indexOf("self_size");
    let count = 0;
    let longest = 0;
    for (let i = 0; i < nodes.length; i += fields.length) {
      if (types[nodes[i + type]] !== "string") continue;
      if (!strings[nodes[i + name]].startsWith("HTTP/1.1 200 OK\r\n")) continue;
      count++;
      longest = Math.max(longest, nodes[i + self]);
    }
    return { count, longest };
  } finally {
    rmSync(file, { force: true });
  }
}

const server =
  process.argv[2] === "raw"
    ? await raw()
    : await serve((request) => {
        // "/big": a head of some 100 KB, which no later response should keep alive.
        const big = new URL(request.url).pathname === "/big";
        const headers = big ? { "x-big": "x".repeat(100_000) } : undefined;
        const { response, target } = sendEvents(request, { headers });
        target.dispatchMessage("ready");
        return response;
      });
process.on("message", async (message) => {
  if (message === "held") process.send({ held: await held() });
  else if (message === "heads") process.send({ heads: heads() });
  else if (message === "stop") {
    await server.close();
    process.exit(0);
  }
});
process.send({ port: server.port });
