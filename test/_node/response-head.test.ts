import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { connectionUse, droppedHeaders, streamHead } from "../../adapters/_node/response-head.ts";
import type { NodeRequest, NodeResponse } from "../../adapters/node.ts";
import { RawConnection } from "../helpers/raw-http.ts";

const servers: (http.Server | http2.Http2Server)[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    if ("closeAllConnections" in server) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** What `inspect` says of the first request a real server gets for `raw`. */
async function seen<T>(
  raw: string,
  inspect: (req: NodeRequest, res: NodeResponse) => T,
): Promise<T> {
  let found!: (value: T) => void;
  const result = new Promise<T>((resolve) => {
    found = resolve;
  });
  const server = http.createServer((req, res) => {
    found(inspect(req, res));
    res.end();
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const connection = new RawConnection((server.address() as AddressInfo).port, raw);
  try {
    return await result;
  } finally {
    connection.destroy();
  }
}

describe("adapters/_node/response-head", () => {
  test.each([
    ["HTTP/1.1, no Connection", "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "keep-alive"],
    [
      "HTTP/1.1, Connection: keep-alive",
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n",
      "keep-alive",
    ],
    [
      "HTTP/1.1, Connection: close",
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
      "close",
    ],
    [
      "HTTP/1.1, Connection: Keep-Alive, CLOSE",
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n",
      "close",
    ],
    [
      "HTTP/1.1, Connection: closed (not the option)",
      "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n",
      "keep-alive",
    ],
    [
      "HTTP/1.0, even with keep-alive (no chunked coding)",
      "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
      "close",
    ],
  ])("connectionUse: %s", async (_, raw, use) => {
    expect(await seen(raw, (req) => connectionUse(req))).toBe(use);
  });

  test("connectionUse says http2 for an HTTP/2 request", async () => {
    let found!: (use: string) => void;
    const result = new Promise<string>((resolve) => {
      found = resolve;
    });
    const server = http2.createServer((req, res) => {
      found(connectionUse(req));
      res.end();
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    client.on("error", () => {});
    client
      .request({ ":path": "/" })
      .on("error", () => {})
      .resume();
    expect(await result).toBe("http2");
    client.destroy();
  });

  test("an event stream's default head holds Connection and Keep-Alive only on a persistent HTTP/1.1 connection", async () => {
    const keep = await seen("GET / HTTP/1.1\r\nHost: a\r\n\r\n", (req, res) =>
      streamHead(undefined, droppedHeaders(req, res, true)),
    );
    expect(keep).toMatchObject({
      connection: "Keep-Alive",
      "keep-alive": "timeout=9007199254740991",
    });
    const close = await seen("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", (req, res) =>
      streamHead(undefined, droppedHeaders(req, res, true)),
    );
    expect(close).not.toHaveProperty("connection");
    expect(close).not.toHaveProperty("keep-alive");
    expect(close).toMatchObject({
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
    });
  });

  test("a handler's headers lose what the connection forbids: Keep-Alive on one that ends", async () => {
    const head = await seen("GET / HTTP/1.0\r\n\r\n", (req, res) =>
      streamHead(
        new Headers({ "content-type": "text/event-stream", connection: "keep-alive", "x-a": "1" }),
        droppedHeaders(req, res, true),
      ),
    );
    expect(head).toEqual({ "content-type": "text/event-stream", "x-a": "1" });
  });
});
