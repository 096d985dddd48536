// sendevents/hono on @hono/node-server in this process, where only Node has a case: HTTP/2 and
// pipelined requests. The Hono cases run on Node 20 with the runtime matrix (test/runtimes/).
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { afterAll, describe, expect, test } from "vitest";
import { parse } from "../helpers/stream.ts";
import { createApp } from "./app.ts";

describe("sendevents/hono over HTTP/2 (h2c) on @hono/node-server", () => {
  let server: ReturnType<typeof serve> | undefined;
  let session: http2.ClientHttp2Session | undefined;
  afterAll(async () => {
    session?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  test("node: the stream opens over HTTP/2, without the HTTP/1.1-only headers", async () => {
    const app = createApp();
    server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const started = serve(
        { fetch: app.fetch, port: 0, hostname: "127.0.0.1", createServer: http2.createServer },
        () => resolve(started),
      );
    });
    const { port } = server.address() as AddressInfo;
    session = http2.connect(`http://127.0.0.1:${port}`);
    const request = session.request({ ":path": "/messages?n=2&close" });
    const { headers, body } = await new Promise<{
      headers: http2.IncomingHttpHeaders;
      body: string;
    }>((resolve, reject) => {
      let headers: http2.IncomingHttpHeaders = {};
      let body = "";
      request.setEncoding("utf8");
      request.on("response", (received) => {
        headers = received;
      });
      request.on("data", (chunk: string) => {
        body += chunk;
      });
      request.on("end", () => resolve({ headers, body }));
      request.on("error", reject);
    });
    expect(headers[":status"]).toBe(200);
    expect(headers["content-type"]).toBe("text/event-stream");
    expect(headers.connection).toBeUndefined();
    expect(headers["keep-alive"]).toBeUndefined();
    expect(parse(body).events.map((e) => e.data)).toEqual(["m0", "m1"]);
  });
});

describe("sendevents/hono on @hono/node-server: a pipelined request", () => {
  test("node: a stream whose request was pipelined behind another closes with reason client when the connection goes", async () => {
    const { Hono } = await import("hono");
    const { connect } = await import("node:net");
    const { events } = await import("../../adapters/hono.ts");
    const closes: [number, string][] = [];
    let opened = 0;
    const app = new Hono()
      .get(
        "/sse",
        events((_c, target) => {
          const n = ++opened;
          target.addEventListener("close", (event) => closes.push([n, event.reason]));
          target.dispatchMessage(`stream ${n}`);
        }),
      )
      .post(
        "/sse",
        events(async (c, target) => {
          // A request whose body is read to its end closes, its connection still open.
          const body = await c.req.text();
          target.dispatchMessage(`read ${body.length}`);
        }),
      );
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const started = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () =>
        resolve(started),
      );
    });
    try {
      const { port } = server.address() as AddressInfo;
      // A POST whose body the callback reads stays open after that.
      const controller = new AbortController();
      const posted = await fetch(`http://127.0.0.1:${port}/sse`, {
        method: "POST",
        body: "x".repeat(100_000),
        signal: controller.signal,
      });
      const postReader = posted.body!.getReader();
      let postText = "";
      while (!postText.includes("read 100000")) {
        const { done, value } = await postReader.read();
        if (done) break;
        postText += new TextDecoder().decode(value);
      }
      const early = await Promise.race([
        postReader.read().then(({ done }) => (done ? "ended" : "more")),
        new Promise((resolve) => setTimeout(() => resolve("still open"), 300)),
      ]);
      controller.abort();
      expect(postText).toContain("data: read 100000");
      expect(early).toBe("still open");
      const socket = connect(port, "127.0.0.1");
      let received = "";
      socket.setEncoding("latin1");
      socket.on("data", (chunk: string) => {
        received += chunk;
      });
      // Two requests in one write: node:http runs both handlers, and queues the second response
      // behind the first, which never ends.
      socket.write("GET /sse HTTP/1.1\r\nHost: x\r\n\r\nGET /sse HTTP/1.1\r\nHost: x\r\n\r\n");
      for (let i = 0; i < 100 && (opened < 2 || !received.includes("stream 1")); i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(opened).toBe(2);
      socket.destroy();
      for (let i = 0; i < 100 && closes.length < 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      // Before, the second stream stayed open for good: node-server aborts a request's signal
      // when its response closes, and a queued response never does.
      expect(closes.sort()).toEqual([
        [1, "client"],
        [2, "client"],
      ]);
    } finally {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ("closeAllConnections" in server) server.closeAllConnections();
      });
    }
  });
});

describe("sendEvents on @hono/node-server: an idle stream past its first keep-alive tick", () => {
  test("node: the server's stand-in request never builds its Request, and the client leaving still ends the stream", async () => {
    const { sendEvents } = await import("../../src/index.ts");
    const { connect } = await import("node:net");
    const requests: Request[] = [];
    const closed: string[] = [];
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const started = serve(
        {
          fetch: (request: Request) => {
            requests.push(request);
            const { response, target } = sendEvents(request, { keepAlive: 80 });
            target.addEventListener("close", (event) => closed.push(event.reason));
            target.dispatchMessage("ready");
            return response;
          },
          port: 0,
          hostname: "127.0.0.1",
        },
        () => resolve(started),
      );
    });
    const { port } = server.address() as AddressInfo;
    const socket = connect(port, "127.0.0.1");
    try {
      socket.write("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n");
      let text = "";
      socket.on("data", (chunk) => {
        text += chunk;
      });
      // Several ticks: the first one is when a stream settles (and used to read the signal).
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(text).toContain("data: ready");
      expect(text).toContain("\r\n3\r\n:\n\n"); // a keep-alive: the ticks did run
      const request = requests[0]!;
      expect(request instanceof Request).toBe(true);
      // @hono/node-server keeps the Request it builds on demand under a symbol of its own.
      const built = Object.getOwnPropertySymbols(request).filter(
        (key) => key.description === "requestCache",
      );
      expect(built.map((key) => (request as unknown as Record<symbol, unknown>)[key])).toEqual(
        built.map(() => undefined),
      );
      socket.destroy();
      const deadline = Date.now() + 2000;
      while (closed.length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(closed).toEqual(["client"]);
    } finally {
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
