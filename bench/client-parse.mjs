// Client-side parsing speed: events/s read from one large event stream, by sendevents/client
// against eventsource-parser and @microsoft/fetch-event-source, all in this process, all from the
// same bytes cut into the same chunks. Prints a Markdown table with ratios to eventsource-parser.
//   npm run build && node bench/client-parse.mjs [--events=200000] [--runs=7]
//
// - parser (callback): a reader loop, `TextDecoder`, and each parser's callback interface; for
//   eventsource-parser, `createParser({ onEvent })`, its fastest use.
// - for await: `readEvents(response)`, against `EventSourceParserStream`, eventsource-parser's.
// - connect: the whole client over the same response (then a 204), looped over or listened to,
//   against `fetchEventSource(url, { fetch, onmessage })`, fetch-event-source's whole client.
import { fetchEventSource } from "@microsoft/fetch-event-source";
import { createParser } from "eventsource-parser";
import { EventSourceParserStream } from "eventsource-parser/stream";
import { connect, readEvents } from "sendevents/client";
// The parser under readEvents and connect, not exported: compared with createParser, callback to
// callback.
import { createEventStreamParser } from "../dist/src/client/event-stream-parser.js";

const option = (name, fallback) =>
  Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback);
const EVENTS = option("events", 200_000);
const RUNS = option("runs", 7);

// fetch-event-source reaches for window.setTimeout and document's visibility events (removed even
// with openWhenHidden), which Node lacks: give it a window and a visible document.
globalThis.window ??= globalThis;
globalThis.document ??= { hidden: false, addEventListener() {}, removeEventListener() {} };

/** A seeded generator, so every run and every parser gets the same stream. */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** One stream of EVENTS events of mixed shapes: JSON tokens with ids, plain text, multi-line. */
function makeStream() {
  const rand = random(42);
  // No comment in the stream: fetch-event-source 2.0.1 raises a message for one (empty data).
  let text = "";
  for (let i = 0; i < EVENTS; i++) {
    switch (i % 4) {
      case 0:
      case 1:
        text += `event: token\nid: ${i}\ndata: {"i":${i},"text":" word${Math.floor(rand() * 1e6)}"}\n\n`;
        break;
      case 2:
        text += `data: a plain message of about sixty characters, number ${i}\n\n`;
        break;
      default:
        text += `event: multi\ndata: line one ${i}\ndata: line two\ndata: line three\n\n`;
    }
  }
  const bytes = new TextEncoder().encode(text);
  // Chunks of 1 to 32 KiB, as a network delivers them.
  const chunks = [];
  for (let start = 0; start < bytes.length; ) {
    const size = 1024 + Math.floor(rand() * 31 * 1024);
    chunks.push(bytes.subarray(start, start + size));
    start += size;
  }
  return { chunks, bytes: bytes.length };
}

const { chunks, bytes } = makeStream();

function response() {
  let i = 0;
  const body = new ReadableStream({
    pull(controller) {
      if (i < chunks.length) controller.enqueue(chunks[i++]);
      else controller.close();
    },
  });
  return new Response(body, { headers: { "content-type": "text/event-stream" } });
}

/** A reader loop feeding a callback parser, as one would use either parser bare. */
async function feedAll(parser) {
  const reader = response().body.getReader();
  const decoder = new TextDecoder();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parser.feed(decoder.decode(value, { stream: true }));
  }
}

const PARSERS = {
  async "sendevents parser (callback)"() {
    let count = 0;
    await feedAll(createEventStreamParser(() => count++));
    return count;
  },
  async "eventsource-parser (callback)"() {
    let count = 0;
    await feedAll(createParser({ onEvent: () => count++ }));
    return count;
  },
  async "readEvents (for await)"() {
    let count = 0;
    for await (const _ of readEvents(response())) count++;
    return count;
  },
  async "EventSourceParserStream (for await)"() {
    let count = 0;
    const events = response()
      .body.pipeThrough(new TextDecoderStream())
      .pipeThrough(new EventSourceParserStream());
    for await (const _ of events) count++;
    return count;
  },
  async "connect (for await)"() {
    let count = 0;
    let calls = 0;
    const connection = connect("http://bench.test/", {
      retry: 0,
      fetch: async () => (++calls === 1 ? response() : new Response(null, { status: 204 })),
    });
    for await (const _ of connection) count++;
    return count;
  },
  async "connect (addEventListener)"() {
    let count = 0;
    let calls = 0;
    const connection = connect("http://bench.test/", {
      retry: 0,
      fetch: async () => (++calls === 1 ? response() : new Response(null, { status: 204 })),
    });
    connection.addEventListener("message", () => count++);
    connection.addEventListener("token", () => count++);
    connection.addEventListener("multi", () => count++);
    await connection.closed;
    return count;
  },
  async "fetch-event-source (onmessage)"() {
    let count = 0;
    await new Promise((resolve, reject) => {
      fetchEventSource("http://bench.test/", {
        fetch: async () => response(),
        openWhenHidden: true,
        onmessage: () => count++,
        onclose: resolve,
        onerror: (error) => {
          reject(error);
          throw error; // do not retry
        },
      }).then(undefined, reject);
    });
    return count;
  },
};

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const rates = Object.fromEntries(Object.keys(PARSERS).map((name) => [name, []]));
// One warm-up round, then RUNS rounds, the parsers interleaved so that drift hits them alike.
for (let round = 0; round <= RUNS; round++) {
  for (const [name, run] of Object.entries(PARSERS)) {
    const start = performance.now();
    const count = await run();
    const seconds = (performance.now() - start) / 1000;
    if (count !== EVENTS) throw new Error(`${name} read ${count} events, not ${EVENTS}`);
    if (round > 0) rates[name].push(EVENTS / seconds);
  }
}

const base = median(rates["eventsource-parser (callback)"]);
console.log(
  `One stream of ${EVENTS} events (${(bytes / 1e6).toFixed(1)} MB in ${chunks.length} chunks), ` +
    `median of ${RUNS} runs, Node ${process.version}\n`,
);
console.log("| client | events/s | vs eventsource-parser |");
console.log("| --- | ---: | ---: |");
for (const name of Object.keys(PARSERS)) {
  const rate = median(rates[name]);
  console.log(
    `| ${name} | ${Math.round(rate).toLocaleString("en")} | ${(rate / base).toFixed(2)}x |`,
  );
}
