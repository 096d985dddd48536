// RFC 9112 §9.6 on the fetch path: a client that sends `Connection: close` must see its connection
// closed once the stream ends, served here by @hono/node-server over a raw socket.

import type { AddressInfo } from "node:net";
import { connect } from "node:net";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { events } from "../adapters/hono.ts";
import { sendEvents } from "../src/index.ts";

let server: ReturnType<typeof serve>;
let port: number;

beforeAll(async () => {
  const app = new Hono();
  app.get(
    "/hono",
    events((_c, target) => {
      target.dispatchMessage("hi");
      void target.close();
    }),
  );
  const fetch = (request: Request): Response | Promise<Response> => {
    if (new URL(request.url).pathname === "/hono") return app.fetch(request);
    const custom = new URL(request.url).pathname === "/custom";
    const { response, target } = sendEvents(
      request,
      custom ? { headers: { "X-Room": "a" } } : undefined,
    );
    target.dispatchMessage("hi");
    void target.close();
    return response;
  };
  server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(started));
  });
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    if ("closeAllConnections" in server) server.closeAllConnections();
  });
});

/** Sends one raw request; resolves with what came back and whether the server closed within 1 s. */
function exchange(
  path: string,
  connection: string | undefined,
): Promise<{ head: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let text = "";
    let timer: ReturnType<typeof setTimeout> | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ head: text.slice(0, text.indexOf("\r\n\r\n")), closed });
    };
    socket.on("error", reject);
    socket.on("data", (chunk) => {
      text += chunk.toString("latin1");
      // The body has ended (chunked): give the server 1 s to close its side.
      if (text.includes("\r\n0\r\n\r\n") && timer === undefined) {
        timer = setTimeout(() => finish(false), 1000);
      }
    });
    socket.on("end", () => finish(true));
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${connection ? `Connection: ${connection}\r\n` : ""}\r\n`,
    );
  });
}

describe("Connection: close on the fetch path", () => {
  for (const path of ["/", "/custom", "/hono"]) {
    test(`sendEvents honours Connection: close (${path}): no Keep-Alive, the socket closes`, async () => {
      const { head, closed } = await exchange(path, "close");
      expect(head.toLowerCase()).not.toContain("keep-alive");
      expect(head).toContain("text/event-stream");
      expect(closed).toBe(true);
    });
  }

  test("sendEvents reads the close option among others, in any case", async () => {
    const { closed } = await exchange("/", "TE, Close");
    expect(closed).toBe(true);
  });

  test("sendEvents keeps the connection of a client that does not ask to close", async () => {
    const { head, closed } = await exchange("/", undefined);
    expect(head.toLowerCase()).toContain("keep-alive: timeout=9007199254740991");
    expect(closed).toBe(false);
  });
});
