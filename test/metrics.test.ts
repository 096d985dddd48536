import * as net from "node:net";
import { describe, expect, test } from "vitest";
import { serve } from "../adapters/node.ts";
import { metrics, sendEvents } from "../src/index.ts";

function snapshot() {
  return JSON.parse(JSON.stringify(metrics)) as typeof metrics;
}

/**
 * The body `port` answers `GET /` with over HTTP/1.0, whose body comes without chunked framing, so
 * its bytes are what was sent.
 */
async function bodyOver10(port: number): Promise<Buffer> {
  const socket = net.connect(port, "127.0.0.1");
  socket.write("GET / HTTP/1.0\r\n\r\n");
  const chunks: Buffer[] = [];
  socket.on("data", (chunk: Buffer) => chunks.push(chunk));
  await new Promise((resolve) => socket.once("close", resolve));
  const received = Buffer.concat(chunks);
  return received.subarray(received.indexOf("\r\n\r\n") + 4);
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

  test("metrics counts the bytes the Node adapter writes straight to the socket", async () => {
    const before = snapshot();
    const server = await serve((request) => {
      const { response, target } = sendEvents(request);
      target.dispatchMessage("hello");
      target.dispatchComment("c");
      void target.close();
      return response;
    });
    try {
      const body = (await bodyOver10(server.port)).toString("latin1");
      expect(body).toBe(":\n\ndata: hello\n\n: c\n\n");
      expect(metrics.bytesSent - before.bytesSent).toBe(body.length);
      expect(metrics.eventsSent - before.eventsSent).toBe(2);
      expect(metrics.closes.server - before.closes.server).toBe(1);
      expect(metrics.open).toBe(before.open);
    } finally {
      await server.close();
    }
  });

  test("the Node adapter writes text of 2-, 3- and 4-byte characters and lone surrogates as TextEncoder would, and counts its bytes", async () => {
    // Text a stream keeps up with goes to Node as a string, which Node encodes: the bytes on the
    // wire, and metrics.bytesSent, must be those of TextEncoder (a lone surrogate as U+FFFD).
    const before = snapshot();
    const messages = ["é", "a€b", "😀", "\uD800x", "x\uDC00", "\uD83D"];
    const server = await serve((request) => {
      const { response, target } = sendEvents(request);
      // One message a turn, so each is taken alone, as text.
      void (async () => {
        for (const message of messages) {
          target.dispatchMessage(message);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
        target.dispatchComment("€ \uDBFF");
        await target.close();
      })();
      return response;
    });
    try {
      const body = await bodyOver10(server.port);
      const expected = new TextEncoder().encode(
        `:\n\n${messages.map((message) => `data: ${message}\n\n`).join("")}: € \uDBFF\n\n`,
      );
      expect(body.toString("hex")).toBe(Buffer.from(expected).toString("hex"));
      expect(metrics.bytesSent - before.bytesSent).toBe(expected.byteLength);
      expect(metrics.queuedBytes).toBe(before.queuedBytes);
    } finally {
      await server.close();
    }
  });

  // Last in the file: on a library that counts in the object it hands out, it breaks the rest.
  test("metrics is a read-only view: code that writes, resets or freezes it never changes what the streams count", async () => {
    const before = snapshot();
    // An exporter that resets counters after each scrape, or snapshots them by freezing.
    expect(() => {
      (metrics as { open: number }).open = -100;
    }).toThrow(TypeError);
    expect(() => {
      (metrics.closes as { server: number }).server = 0;
    }).toThrow(TypeError);
    Object.freeze(metrics);
    Object.freeze(metrics.closes);
    const { response, target } = sendEvents(new Request("http://localhost/"));
    expect(metrics.open).toBe(before.open + 1);
    const closing = target.close();
    await response.text();
    await closing;
    expect(metrics.open).toBe(before.open);
    expect(metrics.closes.server).toBe(before.closes.server + 1);
    expect(snapshot().opened).toBe(before.opened + 1);
  });
});
