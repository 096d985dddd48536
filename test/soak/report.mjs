// Writes test/soak/RESULTS.md from the tables a full soak run (`npm run soak`) left behind, with
// the machine, the Node version and the date, and prints it.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { fileURLToPath } from "node:url";

const dir = `${tmpdir()}/sendevents-soak`;
const sections = ["churn", "slow-clients", "pipelining", "store-memory", "unsent"]
  .map((name) => `${dir}/${name}.md`)
  .filter((file) => existsSync(file))
  .map((file) => readFileSync(file, "utf8"));
if (sections.length === 0) {
  console.error("No soak results: run `npm run soak` (SOAK=full vitest run test/soak) first.");
  process.exit(1);
}
const cpu = cpus();
const markdown = `# Soak results

A full run of \`npm run soak\` (\`test/soak/\`): each scenario runs the server in its own process
(\`node --expose-gc test/soak/server.mjs\`), once on the Node adapter (\`sendevents/node\`, which
writes event streams straight to the socket) and once on the fetch path (the same handler behind
\`@hono/node-server\`: \`Request\` in, streaming \`Response\` out), and drives it over loopback with raw
sockets. \`npm test\` runs the same scenarios at a tenth of the size and asserts on them.

- Date: ${new Date().toISOString()}
- Machine: ${cpu.length} × ${cpu[0]?.model ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Linux ${release()}
- Node: ${process.version}

What the columns mean: _events_ are the events and comments the server accepted for sending during
the measured part (\`metrics.eventsSent\`); _peak RSS_ is the server process's, sampled every 50 ms;
_heap delta_ is the heap after a forced GC minus the heap at the baseline (churn: after a warm-up
of 200 connections; others: before the first connection); _leaked handles_ counts handles and
timers (\`process.getActiveResourcesInfo()\`) and listeners on the server, on \`process\` and on the
shared broadcast \`EventTarget\` left above the baseline once every connection has ended.

- **churn**: connections opened by the client (250 at a time), each closed once a broadcast chunk
  has arrived, half with FIN and half with RST, while a broadcaster sends 2 KB to every open stream
  every 20 ms. Afterwards: no open target, no keep-alive timer, no listener, no connection left;
  no \`MaxListenersExceededWarning\`, unhandled rejection or uncaught exception.
- **churn over HTTP/2**: the Node adapter over h2c; sessions of 100 streams, half of the sessions
  cancel every stream (RST_STREAM) and close, the others are destroyed with their streams open;
  the same checks as churn.
- **frozen clients**: clients that connect and never read, while the server pushes 100 KB every
  100 ms (1 MB/s) to every stream, with \`maxBufferedAmount\` 256 KiB; four fast clients on the same
  server parse every event. Every frozen client must be closed with \`"overflow"\`, the fast ones
  must receive every event id without a gap, and peak RSS must stay under the baseline plus
  connections × 2 × \`maxBufferedAmount\` (the target's queue plus one flushed chunk in the socket's
  buffer) plus 64 MB.
- **half-open**: clients that stop reading and never close (no FIN, no RST: to the server a peer
  that vanished), while the server pushes 64 KB every 20 ms. Once the kernel's buffers are full no
  byte moves; the send timeout (\`sendTimeout\`, 1.2 s, 0.6 of the 2 s keep-alive interval; on the fetch path
  the same check on \`res.setTimeout\`) must close them within two keep-alive intervals of the last
  byte that moved (sampled every 10 ms from the socket's pending bytes).
- **hostile input**: \`Last-Event-ID\` of 1 MB / 8 KiB / with NUL, CR, LF / invalid UTF-8; \`Accept\`
  of 10 KB of q-values, malformed, 1 MB; 1,500 and 5,000 custom headers; dispatches of a 100 MB
  string, of objects whose \`toJSON\` throws, cyclic, BigInt; while a bystander stream keeps
  receiving.
- **graceful shutdown**: \`shutdown({ retry: 1000, jitter: 4000, deadline: 5000 })\` with every
  stream open: each gets a \`retry:\` in [1000, 5000] and a clean end of its body.
- **pipelining** (Node adapter): connections that send event-stream requests pipelined in one
  write: half 2,000 each (the server destroys them past its bound of 32 queued), half 32 each,
  closed with FIN or RST once the first stream has its first event. Only the stream at the head
  of each connection may open; afterwards nothing may be left.
- **store memory**: a live \`Channel\` with its default \`MemoryEventStore\` (1 MiB) on the Node
  adapter sends 3,000 events of 100 KB to a client that reads them all, then a bare default store
  takes 1,000 events of 900 KB (\`test/soak/store-memory.mjs\`, its own process). What each part
  leaves held after full collections (heap plus \`ArrayBuffer\`s) must stay under 8 MB: about the
  one event the bound allows, with its text. Before the fix, dropped events stayed reachable until
  1,024 had piled up: 182 MB and 1.7 GB held, 2 GB RSS.
- **unsent responses**: 5,000 requests (50 at a time) to a handler that opens an event stream,
  dispatches into it, then answers \`401\` or throws: every stream must end with reason \`"error"\`
  (at once on the Node adapter, which knows the response it sent; on the fetch path once the
  unread body is collected, after its first keep-alive tick), and nothing may stay held.

${sections.join("\n")}`;
const results = fileURLToPath(new URL("./RESULTS.md", import.meta.url));
writeFileSync(results, markdown);
console.log(readFileSync(results, "utf8"));
