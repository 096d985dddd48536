// Measures what the metrics counters cost: the same dispatch loop (500,000 small messages through
// a target, read by a consumer) on the built package as it is, and on a copy with every
// `counters.*` update stripped out, alternately, best of several runs each.
//
//   npm run build && node test/soak/counters-cost.mjs
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";

const dist = fileURLToPath(new URL("../../dist", import.meta.url));
const stripped = mkdtempSync(`${tmpdir()}/sendevents-nocounters-`);
cpSync(dist, `${stripped}/dist`, { recursive: true });
const file = `${stripped}/dist/src/server-sent-event-target.js`;
const source = readFileSync(file, "utf8");
const without = source.replace(
  /^\s*counters\.[a-zA-Z]+(\[reason\])?(\+\+|--| [-+]= [^;]+);$/gm,
  "",
);
if (/counters\./.test(without)) throw new Error("Some counter updates were not stripped");
writeFileSync(file, without);

async function run(sendEvents, n) {
  const { response, target } = sendEvents(new Request("http://localhost/"), {
    keepAlive: false,
    maxBufferedAmount: 2 ** 30,
  });
  const reader = response.body.getReader();
  const reading = (async () => {
    for (;;) if ((await reader.read()).done) break;
  })();
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    target.dispatchMessage("hello world");
    if (i % 100 === 99) await new Promise((resolve) => setImmediate(resolve));
  }
  await target.close();
  await reading;
  return performance.now() - started;
}

const variants = {
  "with counters": (await import(`${dist}/src/index.js`)).sendEvents,
  "without counters": (await import(`${stripped}/dist/src/index.js`)).sendEvents,
};
const best = {};
for (const sendEvents of Object.values(variants)) await run(sendEvents, 100_000);
for (let round = 0; round < 7; round++) {
  for (const [name, sendEvents] of Object.entries(variants)) {
    best[name] = Math.min(best[name] ?? Number.POSITIVE_INFINITY, await run(sendEvents, 500_000));
  }
}
for (const [name, ms] of Object.entries(best)) {
  console.log(`${name}: ${ms.toFixed(1)} ms for 500,000 dispatches (best of 7)`);
}
