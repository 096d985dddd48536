/**
 * The client run where it runs: `exercise(base)` uses `sendevents/client` against the client app
 * at `base` and reports what it saw, so that `portable.test.ts` can run the same code on Node 18,
 * Deno, Bun and workerd (`portable-run.mjs`, `portable-worker.js`) and compare.
 *
 * @module
 */
import { collectEvents, connect, readEvents } from "sendevents/client";

/**
 * @param {string} base The client app's URL.
 * @returns {Promise<Record<string, unknown>>}
 */
export async function exercise(base) {
  const url = (path) => new URL(path, base);
  const key = `portable-${Math.random().toString(36).slice(2)}`;
  const script = await collectEvents(await fetch(url("/script")));

  // Resume through a Channel across server drops.
  const feed = connect(url(`/client/feed?room=${key}&drop=100`), {
    parse: { hello: "json", tick: "json" },
  });
  let opens = 0;
  feed.addEventListener("open", () => opens++);
  const ticks = [];
  for await (const event of feed) {
    if (event.type === "tick") ticks.push(event.data.n);
    if (opens >= 3 && ticks.length >= 12) break;
  }

  // A POST token stream that drops after three tokens, resumes, and ends on 204.
  const prompt = "one two three four five six";
  const tokens = connect(url(`/client/tokens?key=${key}`), {
    method: "POST",
    headers: { authorization: "Bearer portable" },
    body: JSON.stringify({ prompt }),
    parse: { done: "json" },
  });
  let text = "";
  for await (const event of tokens) if (event.type === "token") text += event.data;

  // readEvents cancels on an early exit.
  let first;
  for await (const event of readEvents(await fetch(url("/?interval=10")))) {
    first = event.type;
    break;
  }

  return {
    script: script.map((event) => [event.type, event.data, event.id ?? null]),
    resumed: {
      opens: opens >= 3,
      consecutive: ticks.every((n, i) => n === ticks[0] + i),
      closed: (await feed.closed).reason,
    },
    tokens: { text, end: await tokens.closed },
    first,
  };
}
