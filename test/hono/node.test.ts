// The Hono cases on Node, served by @hono/node-server in this process, over real sockets.
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import { afterAll, describe, expect, test } from "vitest";
import { parse } from "../helpers/stream.ts";
import { createApp } from "./app.ts";
import { describeHonoRuntime } from "./cases.ts";

describeHonoRuntime("node", async () => {
  const app = createApp();
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () =>
      resolve(started),
    );
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${port}/`),
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ("closeAllConnections" in server) server.closeAllConnections();
      }),
  };
});

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
