/**
 * The conformance suite, written once: {@linkcode conformanceCases} defines every case against a
 * running server of the example app (`examples/shared/app.js`), given its base URL and the name
 * of the target serving it, with real clients over 127.0.0.1. The runtime matrix
 * (`test/runtimes/matrix.ts`) launches each target and calls it (see `describeTarget`).
 *
 * @module
 */
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { afterAll, expect, test } from "vitest";
import {
  connect,
  delay,
  openRaw,
  pollStats,
  type RecordedSource,
  stats,
  uniqueId,
} from "./client.ts";

/** The server under test, and how its runtime may differ from the others. */
export interface ConformanceTarget {
  /** The runtime's name: it starts every test name. */
  runtime: string;
  /** The running server's base URL (called once the server is up, in each test). */
  url(): URL;
  /**
   * Milliseconds within which a client that leaves must fire `close` with reason `"client"`:
   * 1000 where the runtime tells the handler at once (it aborts `request.signal` or cancels the
   * body); otherwise one keep-alive interval (5000) plus a margin, for a runtime that only notices
   * on the next write.
   * @default 1000
   */
  disconnectWithin?: number;
  /**
   * Milliseconds a silent stream must stay open: past the runtime's idle timeout.
   * @default 11500 (Bun closes a connection silent for 10 s)
   */
  idleFor?: number;
}

/** The bytes `/script` sends, as Node sends them. */
export const SCRIPT_BODY =
  ":\n\n" +
  ": a comment\n: on two lines\n\n" +
  "data: plain text\n\n" +
  'data: {"json":true,"n":1}\n\n' +
  "event: greeting\nid: 1\ndata: hello\n\n" +
  "event: multi\nid: two\ndata: line 1\ndata: line 2\ndata: line 3\ndata: line 4\n\n" +
  "id: 0\ndata: \n\n" +
  "retry: 2500\ndata:  leading space\n\n" +
  "data: ünïcødé ✓ 🎉\n\n" +
  "data: trailing newline\ndata: \n\n" +
  "event: close\ndata: bye\n\n";

/** The events `/script` sends, as `eventsource-parser` reads them on Node. */
export const SCRIPT_EVENTS: EventSourceMessage[] = [
  { event: undefined, id: undefined, data: "plain text" },
  { event: undefined, id: undefined, data: '{"json":true,"n":1}' },
  { event: "greeting", id: "1", data: "hello" },
  { event: "multi", id: "two", data: "line 1\nline 2\nline 3\nline 4" },
  { event: undefined, id: "0", data: "" },
  { event: undefined, id: undefined, data: " leading space" },
  { event: undefined, id: undefined, data: "ünïcødé ✓ 🎉" },
  { event: undefined, id: undefined, data: "trailing newline\n" },
  { event: "close", id: undefined, data: "bye" },
];

/** Milliseconds between two ticks of a tracked stream's ticker in the example app. */
const TICK_INTERVAL = 100;

function parse(text: string): {
  events: EventSourceMessage[];
  comments: string[];
  retries: number[];
} {
  const events: EventSourceMessage[] = [];
  const comments: string[] = [];
  const retries: number[] = [];
  const parser = createParser({
    onEvent: (event) => events.push(event),
    onComment: (comment) => comments.push(comment),
    onRetry: (retry) => retries.push(retry),
  });
  parser.feed(text);
  return { events, comments, retries };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Defines the conformance cases, inside a `describe` (make it `describe.concurrent`: the cases are
 * independent, and the idle-timeout case alone takes 12 s).
 *
 * @param target The runtime's name and the server's base URL, and where the runtime may differ.
 */
export function conformanceCases(target: ConformanceTarget): void {
  const { runtime } = target;
  const disconnectWithin = target.disconnectWithin ?? 1000;
  const idleFor = target.idleFor ?? 11_500;
  const sources: RecordedSource[] = [];
  const url = (path: string): URL => new URL(path, target.url());
  const track = (source: RecordedSource): RecordedSource => {
    sources.push(source);
    return source;
  };
  afterAll(() => {
    for (const { source } of sources) source.close();
  });

  test(`${runtime} sends the headers before any event: EventSource opens within 500 ms`, async () => {
    const client = track(connect(url(`/silent?id=${uniqueId("open")}`)));
    const elapsed = await client.opened;
    expect(elapsed).toBeLessThan(500);
    await delay(50);
    expect(client.events).toEqual([]);
  });

  test(`${runtime} delivers messages, event types, ids, retry, multi-line data and comments byte for byte as Node does`, async () => {
    const response = await fetch(url("/script"));
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(parse(text)).toEqual({
      events: SCRIPT_EVENTS,
      comments: ["", "a comment", "on two lines"],
      retries: [2500],
    });
    expect(text).toBe(SCRIPT_BODY);
  });

  test(`${runtime} delivers the same events to an EventSource`, async () => {
    const client = track(connect(url("/script"), ["message", "greeting", "multi", "close"]));
    await client.next("close");
    client.source.close();
    expect(client.events.map(({ type, data }) => ({ type, data }))).toEqual(
      SCRIPT_EVENTS.map(({ event, data }) => ({ type: event ?? "message", data })),
    );
    // Only the events that carry an id: the eventsource package does not carry an id over to the
    // events after it, as the HTML standard says a browser does.
    expect(client.events.slice(2, 5).map((event) => event.lastEventId)).toEqual(["1", "two", "0"]);
  });

  test(`${runtime} ends the stream cleanly on target.close(), fires "close" once with reason "server", and stops the stream's timers`, async () => {
    const id = uniqueId("server-close");
    const stream = await openRaw(url(`/?interval=50&count=3&id=${id}`));
    expect(stream.response.statusCode).toBe(200);
    const { complete } = await stream.ended;
    expect(complete).toBe(true);
    const { events } = parse(stream.text());
    expect(events.map((event) => [event.event, event.id])).toEqual([
      ["hello", undefined],
      [undefined, "1"],
      [undefined, "2"],
      [undefined, "3"],
      ["close", undefined],
    ]);
    // No false "close" afterwards: Deno, for one, aborts request.signal once a response is done.
    await delay(3 * TICK_INTERVAL);
    const after = await stats(target.url(), id);
    expect(after).toMatchObject({ state: "closed", reason: "server", closes: 1 });
    await delay(3 * TICK_INTERVAL);
    expect(await stats(target.url(), id)).toEqual(after);
  });

  test(
    `${runtime} fires "close" with reason "client" when the client leaves, within ${disconnectWithin} ms, and stops the stream's timers`,
    async () => {
      const latencies: number[] = [];
      for (let i = 0; i < 3; i++) {
        const id = uniqueId("leave");
        const stream = await openRaw(url(`/silent?id=${id}`));
        // The stream is open and its ticker runs.
        await pollStats(target.url(), id, (s) => s.state === "open" && s.ticks >= 2);
        const leftAt = Date.now();
        stream.destroy();
        const { stats: closed } = await pollStats(target.url(), id, (s) => s.state === "closed", {
          timeout: disconnectWithin + 5_000,
        });
        // The server's clock at its "close" (the same clock as ours, on the same machine); for an
        // app whose /stats has no closedAt, when the poll saw it.
        latencies.push(Math.max(0, (closed.closedAt ?? Date.now()) - leftAt));
        expect(closed).toMatchObject({ reason: "client", closes: 1 });
        await delay(3 * TICK_INTERVAL);
        const later = await stats(target.url(), id);
        expect(later).toEqual({ ...closed, ticks: later.ticks });
        // At most one tick may have been on its way when the stream closed; then none.
        expect(later.ticks - closed.ticks).toBeLessThanOrEqual(1);
        await delay(3 * TICK_INTERVAL);
        expect(await stats(target.url(), id)).toEqual(later);
      }
      console.log(
        `${runtime}: client leaves -> "close" in ${latencies.join(", ")} ms (median ${median(latencies)} ms)`,
      );
      for (const latency of latencies) expect(latency).toBeLessThan(disconnectWithin);
    },
    3 * (disconnectWithin + 3_000),
  );

  test(
    `${runtime} keeps a silent stream open for ${idleFor} ms, past the runtime's idle timeout`,
    async () => {
      const id = uniqueId("idle");
      const start = performance.now();
      const stream = await openRaw(url(`/silent?after=${idleFor}&id=${id}`));
      try {
        await stream.until((text) => text.includes("data: still here\n\n"), idleFor + 10_000);
        expect(performance.now() - start).toBeGreaterThanOrEqual(idleFor - 50);
        expect(await stats(target.url(), id)).toMatchObject({ state: "open", closes: 0 });
      } finally {
        stream.destroy();
      }
    },
    idleFor + 20_000,
  );

  test(`${runtime} sends the caller's headers over the defaults`, async () => {
    const response = await fetch(url("/headers"));
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-custom")).toBe("yes");
    expect(response.headers.get("x-accel-buffering")).toBe("no");
    expect(parse(await response.text()).events).toEqual([
      { event: undefined, id: undefined, data: "with headers" },
    ]);
  });
}
