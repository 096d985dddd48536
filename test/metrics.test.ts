import { describe, expect, test } from "vitest";
import { metrics, sendEvents } from "../src/index.ts";

function snapshot() {
  return JSON.parse(JSON.stringify(metrics)) as typeof metrics;
}

describe("metrics", () => {
  test("metrics counts open streams, events, bytes and closes by reason", async () => {
    const before = snapshot();
    const { response, target } = sendEvents(new Request("http://localhost/"));
    expect(metrics.open).toBe(before.open + 1);
    expect(metrics.opened).toBe(before.opened + 1);
    target.dispatchMessage("hello");
    target.dispatchComment("note");
    // ":\n\n" opens the stream; "data: hello\n\n" and ": note\n\n" follow.
    expect(metrics.queuedBytes).toBe(before.queuedBytes + 3 + 13 + 8);
    const closing = target.close();
    expect(await response.text()).toBe(":\n\ndata: hello\n\n: note\n\n");
    await closing;
    expect(metrics.open).toBe(before.open);
    expect(metrics.eventsSent).toBe(before.eventsSent + 2);
    expect(metrics.bytesSent).toBe(before.bytesSent + 24);
    expect(metrics.queuedBytes).toBe(before.queuedBytes);
    expect(metrics.closes.server).toBe(before.closes.server + 1);
  });

  test("metrics counts dispatches after close as drops and evictions as overflow closes", async () => {
    const before = snapshot();
    const { response, target } = sendEvents(new Request("http://localhost/"), {
      highWaterMark: 0,
      maxBufferedAmount: 100,
    });
    // Nobody reads: the queue passes 100 bytes and the stream is evicted.
    expect(target.dispatchMessage("x".repeat(200))).toBe(false);
    expect(target.closed).toBe(true);
    expect(target.dispatchMessage("late")).toBe(false);
    expect(target.dispatchComment("late")).toBe(false);
    expect(metrics.drops).toBe(before.drops + 3);
    expect(metrics.closes.overflow).toBe(before.closes.overflow + 1);
    expect(metrics.open).toBe(before.open);
    expect(metrics.queuedBytes).toBe(before.queuedBytes);
    await expect(response.text()).rejects.toThrow();
  });

  test("metrics counts a client that leaves as a client close and releases its queued bytes", async () => {
    const before = snapshot();
    const controller = new AbortController();
    const { target } = sendEvents(new Request("http://localhost/", { signal: controller.signal }));
    target.dispatchMessage("queued but never read");
    expect(metrics.queuedBytes).toBeGreaterThan(before.queuedBytes);
    controller.abort();
    await target.close();
    expect(metrics.closes.client).toBe(before.closes.client + 1);
    expect(metrics.queuedBytes).toBe(before.queuedBytes);
    expect(metrics.open).toBe(before.open);
  });
});
