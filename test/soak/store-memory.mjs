// The store-memory soak's process: `node --expose-gc test/soak/store-memory.mjs '<config>'`.
// Part 1: a live Channel on the Node adapter with its default MemoryEventStore (1 MiB), one client
// reading every event, broadcasts of `bytes` each. Part 2: a bare default store fed `storeEvents`
// of `storeBytes` each. Prints one JSON line: what each part left held (heap and ArrayBuffers
// after full collections), peak RSS, and what the client received.
import { get } from "node:http";
import { serve } from "../../dist/adapters/node.js";
import { Channel, MemoryEventStore, metrics, sendEvents } from "../../dist/src/index.js";

const config = JSON.parse(process.argv[2] ?? "{}");
const { events = 300, bytes = 100_000, storeEvents = 100, storeBytes = 900_000 } = config;
const MB = 1024 * 1024;

async function held() {
  for (let i = 0; i < 3; i++) {
    globalThis.gc();
    await new Promise((resolve) => setImmediate(resolve));
  }
  const { heapUsed, arrayBuffers } = process.memoryUsage();
  return heapUsed + arrayBuffers;
}

let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 50);

const started = performance.now();
const channel = new Channel("soak");
const server = await serve((request) => {
  const { response, target } = sendEvents(request);
  void channel.register(target);
  return response;
});

// Part 1: a live channel, its store dropping the oldest event with every broadcast.
let received = 0;
let last = "";
let wakeReader;
const done = new Promise((resolve) => {
  wakeReader = resolve;
});
const request = get(new URL("/", server.url), (response) => {
  response.setEncoding("latin1");
  response.on("data", (chunk) => {
    // Count events by their blank line, across chunk boundaries.
    const text = last + chunk;
    let at = text.indexOf("\n\n");
    while (at !== -1) {
      received++;
      at = text.indexOf("\n\n", at + 2);
    }
    last = text.slice(-1);
    if (received >= events + 1) wakeReader();
  });
});
while (channel.size === 0) await new Promise((resolve) => setTimeout(resolve, 5));
const baseline = await held();
for (let i = 0; i < events; i++) {
  await channel.broadcast(String(i % 10).repeat(bytes));
  // Paced: a few per millisecond, so the client keeps up and nothing piles up in queues.
  if (i % 4 === 3) await new Promise((resolve) => setTimeout(resolve, 1));
}
await done; // the opening comment, then every event
const live = (await held()) - baseline;
request.destroy();
while (metrics.open > 0) await new Promise((resolve) => setTimeout(resolve, 5));

// Part 2: a bare store.
const store = new MemoryEventStore();
const storeBaseline = await held();
for (let i = 0; i < storeEvents; i++) {
  await store.append({ type: "message", data: String(i % 10).repeat(storeBytes) });
}
const direct = (await held()) - storeBaseline;
clearInterval(sampler);
await server.close();
console.log(
  JSON.stringify({
    received: received - 1,
    liveMB: live / MB,
    directMB: direct / MB,
    storeLength: store.length,
    storeByteLength: store.byteLength,
    peakRssMB: peakRss / MB,
    open: metrics.open,
    channelSize: channel.size,
    seconds: (performance.now() - started) / 1000,
  }),
);
