// The load client: a separate process speaking raw HTTP/1.1 over node:net, counting events by
// their "data:" lines (every bench event has exactly one; some servers write "data:" without the
// space). Prints one JSON result on stdout.
//   node client.mjs <scenario> <port> '<json options>'
import { connect } from "node:net";
import { now } from "./shared.mjs";

const [scenario, portText, optionsText = "{}"] = process.argv.slice(2);
const port = Number(portText);
const options = JSON.parse(optionsText);
const MARK = "data:";
// Several source addresses, so tens of thousands of connections do not run out of ephemeral ports.
const LOCAL_ADDRESSES = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
let nextAddress = 0;

// Long-lived connections spread over several source addresses, to pass the ephemeral-port limit.
// Short ones (connects/s) let the kernel pick. Every connection ends with a reset, as a client that
// goes away does: a FIN would leave tens of thousands of ports in TIME_WAIT over a full run, and
// binding a source port then stalls for seconds.
function open(path, onText, { method = "GET", spread = true } = {}) {
  const socket = connect(
    spread
      ? { host: "127.0.0.1", port, localAddress: LOCAL_ADDRESSES[nextAddress++ % 8] }
      : { host: "127.0.0.1", port },
  );
  socket.setNoDelay(true);
  socket.setEncoding("latin1");
  let carry = "";
  socket.on("data", (chunk) => {
    // Keep the tail, so a mark cut in two by the network is still found once.
    const text = carry + chunk;
    onText(text, carry.length);
    carry = text.slice(-(MARK.length - 1));
  });
  socket.on("error", () => {});
  socket.write(
    `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
  );
  return socket;
}

/** Counts marks in text that start at or after `from` (the carried tail was counted already). */
function countMarks(text, from, onMark) {
  let count = 0;
  let at = text.indexOf(MARK, Math.max(0, from - MARK.length + 1));
  while (at !== -1) {
    if (at + MARK.length > from) {
      count++;
      onMark?.(text, at + MARK.length);
    }
    at = text.indexOf(MARK, at + MARK.length);
  }
  return count;
}

async function request(method, path) {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return await response.text();
}

async function serverStats() {
  return JSON.parse(await request("GET", "/stats"));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Opens `count` subscribers, at most `batch` connecting at once; resolves when all have "ready". */
async function subscribe(count, onEvent) {
  const sockets = [];
  const batch = 200;
  for (let start = 0; start < count; start += batch) {
    const group = [];
    for (let i = start; i < Math.min(count, start + batch); i++) {
      group.push(
        new Promise((resolve, reject) => {
          let ready = false;
          const socket = open("/subscribe", (text, from) => {
            countMarks(text, from, (t, at) => {
              if (!ready) {
                ready = true;
                resolve();
              } else onEvent?.(i, t, at);
            });
          });
          socket.on("close", () => !ready && reject(new Error("subscriber closed before ready")));
          sockets.push(socket);
        }),
      );
    }
    await Promise.all(group);
  }
  return sockets;
}

const scenarios = {
  async throughput({ n, warm = 0 }) {
    // One stream of `count` events, read to its last one; resolves with how many arrived.
    const stream = (count) =>
      new Promise((resolve) => {
        let seen = 0;
        const socket = open(`/throughput?n=${count}`, (text, from) => {
          seen += countMarks(text, from);
          if (seen >= count) {
            socket.resetAndDestroy();
            resolve(seen);
          }
        });
        socket.on("close", () => resolve(seen));
      });
    // Warm-up: the server's code paths compiled before the measured stream, as in a server that
    // has been up for a while. A fresh process spends its first thousands of events unoptimised.
    // Two streams, so that the measured one does not start just after the first stream ever to
    // end: that end writes fields its stream never wrote before (V8 then drops the code compiled
    // on the assumption that they do not change), and the next stream runs while it is compiled
    // again (measured: some 36 ms of compiling in a 200,000-event stream, on Node 20).
    if (warm > 0) {
      await stream(Math.ceil(warm / 2));
      await stream(Math.ceil(warm / 2));
    }
    const before = await serverStats();
    const start = now();
    const count = await stream(n);
    const seconds = (now() - start) / 1000;
    const after = await serverStats();
    return {
      count,
      expected: n,
      eventsPerSecond: count / seconds,
      cpuMicrosPerEvent: (after.cpu - before.cpu) / n,
    };
  },

  async fanout({ clients, m, warm = 0, rounds = 1 }) {
    const counts = new Uint32Array(clients);
    const latencies = new Float64Array(clients * m * rounds);
    let filled = 0;
    // Each client's count at the end of the current round, and how many have reached it.
    let goal = m;
    let done = 0;
    let finish = () => {};
    let last = 0;
    let warming = 0;
    let warmed;
    const sockets = await subscribe(clients, (i, text, at) => {
      if (warming > 0) {
        if (--warming === 0) warmed();
        return;
      }
      const from = text.charCodeAt(at) === 32 ? at + 1 : at;
      const t = Number(text.slice(from, text.indexOf(" ", from)));
      const received = now();
      if (filled < latencies.length) latencies[filled++] = received - t;
      if (++counts[i] === goal) {
        last = received;
        if (++done === clients) finish();
      }
    });
    // Warm-up rounds of a quarter of the events, delivered in full before the measured round (see
    // throughput): enough to compile the path, and short on the slowest servers.
    const warmEvents = Math.ceil(m / 4);
    for (let round = 0; round < warm; round++) {
      warming = clients * warmEvents;
      const done = new Promise((resolve) => {
        warmed = resolve;
      });
      await request("POST", `/broadcast?m=${warmEvents}`);
      await done;
    }
    // The measured rounds, one after another: each is timed from its broadcast to its last
    // delivery, so that the rate is a round's, however many rounds there are.
    const before = await serverStats();
    let busy = 0;
    for (let round = 0; round < rounds; round++) {
      goal = m * (round + 1);
      done = 0;
      const finished = new Promise((resolve) => {
        finish = resolve;
      });
      const start = now();
      await request("POST", `/broadcast?m=${m}`);
      const timeout = setTimeout(finish, 60_000);
      await finished;
      clearTimeout(timeout);
      busy += last - start;
    }
    const after = await serverStats();
    for (const socket of sockets) socket.resetAndDestroy();
    const sorted = latencies.subarray(0, filled).sort();
    const count = counts.reduce((a, b) => a + b, 0);
    return {
      count,
      expected: clients * m * rounds,
      deliveriesPerSecond: count / (busy / 1000),
      // The server's CPU from the first broadcast to the last delivery (its stats requests included).
      cpuMicrosPerDelivery: (after.cpu - before.cpu) / count,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
    };
  },

  async connects({ duration, concurrency, warm = 0 }) {
    let completed = 0;
    async function loop(deadline) {
      while (now() < deadline) {
        await new Promise((resolve) => {
          const socket = open(
            "/once",
            (text, from) => {
              if (countMarks(text, from) > 0) {
                completed++;
                socket.resetAndDestroy();
              }
            },
            { spread: false },
          );
          socket.on("close", resolve);
        });
      }
    }
    const phase = (ms) => {
      const deadline = now() + ms;
      return Promise.all(Array.from({ length: concurrency }, () => loop(deadline)));
    };
    // Warm-up for `warm` ms (see throughput).
    if (warm > 0) await phase(warm);
    completed = 0;
    const before = await serverStats();
    const start = now();
    await phase(duration);
    const seconds = (now() - start) / 1000;
    const after = await serverStats();
    return {
      count: completed,
      connectsPerSecond: completed / seconds,
      cpuMicrosPerConnect: (after.cpu - before.cpu) / completed,
      // Part of the CPU above; only where the server reports its collector's pauses (Node).
      gcMicrosPerConnect: after.gc === undefined ? undefined : (after.gc - before.gc) / completed,
    };
  },

  async memory({ clients }) {
    await request("POST", "/gc");
    const base = await serverStats();
    const sockets = await subscribe(clients);
    // Steady state: past the first keep-alive tick (a quarter of the 5 s interval), when sendevents
    // starts watching each request's signal, and past any server's setup right after connecting.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await request("POST", "/gc");
    const loaded = await serverStats();
    for (const socket of sockets) socket.resetAndDestroy();
    return {
      count: loaded.subscribers,
      expected: clients,
      bytesPerConnection: (loaded.rss - base.rss) / clients,
      heapPerConnection: (loaded.heapUsed - base.heapUsed) / clients,
    };
  },
};

const result = await scenarios[scenario](options);
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
