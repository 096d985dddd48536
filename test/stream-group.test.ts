import { afterEach, describe, expect, test, vi } from "vitest";
import {
  type ServerSentEventTarget,
  type StreamCloseEvent,
  StreamGroup,
  sendEvents,
} from "../src/index.ts";
import { parse, readUntil } from "./helpers/stream.ts";

const open: { response: Response; target: ServerSentEventTarget }[] = [];
function start(options?: Parameters<typeof sendEvents>[1]) {
  const result = sendEvents(new Request("http://localhost/sse"), options);
  open.push(result);
  return result;
}
afterEach(async () => {
  vi.useRealTimers();
  for (const { response, target } of open.splice(0)) {
    if (!target.closed && !response.body!.locked) await response.body!.cancel();
    expect(target.closed).toBe(true);
  }
});

describe("StreamGroup", () => {
  test("StreamGroup tracks targets until their stream ends", async () => {
    const group = new StreamGroup();
    const a = start();
    const b = start();
    expect(group.track(a.target)).toBe(a.target);
    group.track(b.target);
    group.track(b.target);
    expect(group.size).toBe(2);
    await a.response.body!.cancel();
    expect(group.size).toBe(1);
    const text = b.response.text();
    await b.target.close();
    await text;
    expect(group.size).toBe(0);
  });

  test("StreamGroup.closeAll sends each client a retry hint within the jitter and closes it", async () => {
    const group = new StreamGroup();
    const streams = [start(), start(), start(), start(), start(), start()];
    const reasons: string[] = [];
    for (const { target } of streams) {
      group.track(target);
      target.dispatchMessage("before");
      target.addEventListener("close", (event: StreamCloseEvent) => reasons.push(event.reason));
    }
    const bodies = streams.map(({ response }) => response.text());
    const result = await group.closeAll({ retry: 2000, jitter: 3000, deadline: 5000 });
    expect(result).toEqual({ closed: 6, aborted: 0 });
    expect(reasons).toEqual(Array(6).fill("server"));
    const retries = (await Promise.all(bodies)).map((text) => {
      const parsed = parse(text);
      expect(parsed.events.map((event) => event.data)).toEqual(["before"]);
      expect(parsed.retries).toHaveLength(1);
      return parsed.retries[0]!;
    });
    for (const retry of retries) {
      expect(retry).toBeGreaterThanOrEqual(2000);
      expect(retry).toBeLessThanOrEqual(5000);
    }
    expect(group.size).toBe(0);
  });

  test("StreamGroup.closeAll spreads the retry hints when jitter is on", async () => {
    const group = new StreamGroup();
    const streams = Array.from({ length: 20 }, () => start());
    for (const { target } of streams) group.track(target);
    const bodies = streams.map(({ response }) => response.text());
    await group.closeAll({ retry: 0, jitter: 10_000 });
    const retries = (await Promise.all(bodies)).map((text) => parse(text).retries[0]);
    // 20 draws from 10,001 values: all equal would mean the jitter is not applied.
    expect(new Set(retries).size).toBeGreaterThan(1);
  });

  test("StreamGroup.closeAll aborts streams whose client stopped reading once the deadline passes", async () => {
    const group = new StreamGroup();
    const reading = start();
    const stuck = start({ highWaterMark: 0 });
    group.track(reading.target);
    group.track(stuck.target);
    // The stuck client has something queued and never reads it, so close() cannot complete.
    stuck.target.dispatchMessage("never read");
    const body = reading.response.text();
    let stuckReason: string | undefined;
    stuck.target.addEventListener("close", (event) => {
      stuckReason = event.reason;
    });
    const result = await group.closeAll({ deadline: 50 });
    expect(result).toEqual({ closed: 1, aborted: 1 });
    expect(stuckReason).toBe("error");
    expect(parse(await body).retries).toHaveLength(1);
    await expect(stuck.response.text()).rejects.toThrow();
  });

  test("StreamGroup.closeAll returns the same promise and closes targets tracked later", async () => {
    const group = new StreamGroup();
    const first = group.closeAll({ retry: 100, jitter: 0 });
    expect(group.closeAll()).toBe(first);
    expect(await first).toEqual({ closed: 0, aborted: 0 });
    const late = start();
    const reader = late.response.body!.getReader();
    group.track(late.target);
    const text = await readUntil(reader, (text) => text.includes("retry:"));
    expect(text).toBe(":\n\nretry: 100\n\n");
    expect((await reader.read()).done).toBe(true);
    expect(late.target.closed).toBe(true);
  });

  test("StreamGroup rejects bad arguments", () => {
    const group = new StreamGroup();
    expect(() => group.track({} as never)).toThrow(TypeError);
    expect(() => group.track(null as never)).toThrow("Cannot track stream");
    expect(() => group.closeAll({ deadline: -1 })).toThrow(RangeError);
    expect(() => group.closeAll({ retry: 1.5 })).toThrow(
      '"retry" must be an integer from 0 to 2147483647',
    );
    expect(() => group.closeAll({ jitter: Number.NaN })).toThrow(RangeError);
    // Past a timer's range: a deadline that fires at once, a client that reconnects at once.
    expect(() => group.closeAll({ deadline: 2 ** 31 })).toThrow(
      new RangeError(
        'Cannot close streams: "deadline" must be an integer from 0 to 2147483647, received 2147483648',
      ),
    );
    expect(() => group.closeAll({ retry: 2 ** 31 - 1000, jitter: 1000 })).toThrow(
      '"jitter" must be an integer from 0 to 999, received 1000',
    );
  });
});

describe("sendEvents maxDuration", () => {
  test("sendEvents closes the stream with reason server once maxDuration has passed", async () => {
    const { response, target } = start({ maxDuration: 50 });
    target.dispatchMessage("hi");
    const started = Date.now();
    const reasons: string[] = [];
    target.addEventListener("close", (event) => reasons.push(event.reason));
    expect(await response.text()).toBe(":\n\ndata: hi\n\n");
    expect(Date.now() - started).toBeGreaterThanOrEqual(40);
    expect(reasons).toEqual(["server"]);
  });

  test("sendEvents clears the maxDuration timer when the stream ends sooner", async () => {
    vi.useFakeTimers();
    const { response, target } = start({ maxDuration: 60_000, keepAlive: false });
    expect(vi.getTimerCount()).toBe(1);
    await response.body!.cancel();
    expect(target.closed).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  test("sendEvents rejects a maxDuration that is not a positive integer", () => {
    const request = new Request("http://localhost/");
    for (const maxDuration of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "300" as never]) {
      expect(() => sendEvents(request, { maxDuration })).toThrow(RangeError);
    }
    expect(() => sendEvents(request, { maxDuration: 0 })).toThrow('"maxDuration"');
  });
});
