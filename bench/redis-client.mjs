// The load client of bench/redis.mjs: opens <clients> event streams to one instance over raw
// HTTP/1.1, prints "ready" once each has its first event, then counts every "data: " line and
// reads the publish time back on every 10th stream for latency; prints one JSON result once every
// stream has <expected> events (or after <timeout> ms).
//   node redis-client.mjs <port> <clients> <expected> [timeout]
import { connect } from "node:net";
import { now } from "./shared.mjs";

const [port, clients, expected, timeout = "120000"] = process.argv.slice(2).map(Number);
const MARK = "data: ";
const SAMPLE = 10;
const LOCAL_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
const counts = new Int32Array(clients).fill(-1); // -1: not ready yet
const latencies = [];
let ready = 0;
let done = 0;
let first = 0;
let last = 0;
const sockets = [];

function finish() {
  for (const socket of sockets) socket.resetAndDestroy();
  latencies.sort((a, b) => a - b);
  const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  const deliveries = counts.reduce((sum, count) => sum + Math.max(0, count), 0);
  process.stdout.write(
    `${JSON.stringify({
      deliveries,
      expected: clients * expected,
      seconds: (last - first) / 1000,
      p50: at(0.5),
      p99: at(0.99),
    })}\n`,
  );
  process.exit(0);
}

for (let i = 0; i < clients; i++) {
  const socket = connect({ host: "127.0.0.1", port, localAddress: LOCAL_ADDRESSES[i % 8] });
  socket.setNoDelay(true);
  socket.setEncoding("latin1");
  let carry = "";
  socket.on("data", (chunk) => {
    const text = carry + chunk;
    let at = text.indexOf(MARK, Math.max(0, carry.length - MARK.length + 1));
    while (at !== -1) {
      if (at + MARK.length > carry.length) {
        if (counts[i]++ === -1) {
          if (++ready === clients) process.stdout.write("ready\n");
        } else {
          const received = now();
          if (first === 0) first = received;
          last = received;
          if (i % SAMPLE === 0) {
            const from = at + MARK.length;
            const end = text.indexOf(" ", from);
            // A time cut off by the end of the chunk is left out of the sample.
            if (end !== -1) latencies.push(received - Number(text.slice(from, end)));
          }
          if (counts[i] === expected && ++done === clients) finish();
        }
      }
      at = text.indexOf(MARK, at + MARK.length);
    }
    carry = text.slice(-(MARK.length - 1));
  });
  socket.on("error", () => {});
  socket.write("GET /subscribe HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
  sockets.push(socket);
}
setTimeout(finish, timeout).unref();
