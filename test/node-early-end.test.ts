import * as http2 from "node:http2";
import { afterEach, describe, expect, test, vi } from "vitest";
import { type NodeServer, serve } from "../adapters/node.ts";
import { type ServerSentEventTarget, type StreamCloseEvent, sendEvents } from "../src/index.ts";
import { get, headerOf, RawConnection } from "./helpers/raw-http.ts";
import { delay } from "./helpers/stream.ts";

const servers: NodeServer[] = [];
const connections: RawConnection[] = [];
afterEach(async () => {
  for (const connection of connections.splice(0)) connection.destroy();
  for (const server of servers.splice(0)) await server.close();
});

async function start(
  handler: (request: Request) => Response | Promise<Response>,
): Promise<NodeServer> {
  const server = await serve(handler, {
    onError: () => new Response("sorry", { status: 500 }),
  });
  servers.push(server);
  return server;
}
function open(server: NodeServer, request: string): RawConnection {
  const connection = new RawConnection(server.port, request);
  connections.push(connection);
  return connection;
}

interface Closed {
  reason: string;
  error: unknown;
}
function watch(target: ServerSentEventTarget, into: Closed[]): void {
  target.addEventListener("close", (event: StreamCloseEvent) =>
    into.push({ reason: event.reason, error: event.error }),
  );
}
const NOT_SENT = /handler did not send its response/;

describe("sendevents/node: a stream the handler made but did not return", () => {
  test("node ends with reason error a stream whose handler answered 401 instead", async () => {
    const closes: Closed[] = [];
    let ended: Promise<void> | undefined;
    const server = await start((request) => {
      const { target } = sendEvents(request);
      watch(target, closes);
      ended = target.closed ? undefined : target.close().then(() => undefined);
      return new Response("no", { status: 401 });
    });
    const response = await fetch(server.url);
    expect(response.status).toBe(401);
    expect(await response.text()).toBe("no");
    await vi.waitFor(() => expect(closes).toHaveLength(1));
    expect(closes[0]!.reason).toBe("error");
    expect((closes[0]!.error as Error).message).toMatch(NOT_SENT);
    await ended;
  });

  test("node ends with reason error a stream whose handler threw, synchronously or not", async () => {
    const closes: Closed[] = [];
    const server = await start(async (request) => {
      const { target } = sendEvents(request);
      watch(target, closes);
      if (new URL(request.url).pathname === "/sync") throw new Error("sync");
      await delay(5);
      throw new Error("async");
    });
    for (const path of ["/sync", "/async"]) {
      const response = await fetch(new URL(path, server.url));
      expect(response.status).toBe(500);
      await response.text();
    }
    await vi.waitFor(() => expect(closes).toHaveLength(2));
    expect(closes.map((close) => close.reason)).toEqual(["error", "error"]);
    for (const close of closes) expect((close.error as Error).message).toMatch(NOT_SENT);
  });

  test("node ends with reason error a stream whose body was read but not returned", async () => {
    const closes: Closed[] = [];
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      watch(target, closes);
      void response.body; // middleware looked at it, then answered something else
      return new Response("no", { status: 403 });
    });
    const response = await fetch(server.url);
    expect(response.status).toBe(403);
    await response.text();
    await vi.waitFor(() => expect(closes).toHaveLength(1));
    expect(closes[0]!.reason).toBe("error");
  });

  test("node sends the one stream returned and ends the other one made for the request", async () => {
    const closes: Closed[] = [];
    let sent: ServerSentEventTarget | undefined;
    const server = await start((request) => {
      const first = sendEvents(request);
      watch(first.target, closes);
      const second = sendEvents(request);
      sent = second.target;
      second.target.dispatchMessage("second");
      return second.response;
    });
    const connection = open(server, get("/"));
    await connection.until((text) => text.includes("data: second"));
    await vi.waitFor(() => expect(closes).toHaveLength(1));
    expect(closes[0]!.reason).toBe("error");
    expect(sent!.closed).toBe(false);
    await sent!.close();
  });

  test("node keeps a stream piped through a transform that the handler returned", async () => {
    const closes: Closed[] = [];
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      watch(target, closes);
      target.dispatchMessage("through");
      setTimeout(() => void target.close(), 20);
      const body = response.body!.pipeThrough(new TransformStream());
      return new Response(body, { headers: response.headers });
    });
    const response = await fetch(server.url);
    expect(await response.text()).toBe(":\n\ndata: through\n\n");
    await vi.waitFor(() => expect(closes).toHaveLength(1));
    expect(closes[0]!.reason).toBe("server");
  });
});

describe("sendevents/node: a stream that ends before its response is written", () => {
  test("node sends the head and aborts the connection for a stream that overflowed in the handler", async () => {
    const closes: Closed[] = [];
    const server = await start((request) => {
      const { response, target } = sendEvents(request);
      watch(target, closes);
      target.dispatchMessage("x".repeat(2 * 1024 * 1024)); // the snapshot passes maxBufferedAmount
      return response;
    });
    const connection = open(server, get("/"));
    expect(await connection.closesWithin(5000)).toBe(true);
    expect(connection.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(headerOf(connection.text, "content-type")).toBe("text/event-stream");
    // Aborted, not ended: no last chunk, so the client knows the stream broke.
    expect(connection.text).not.toContain("0\r\n\r\n");
    expect(closes.map((close) => close.reason)).toEqual(["overflow"]);
  });

  test("node sends the head and aborts the connection for a stream that failed before the handler returned", async () => {
    const closes: Closed[] = [];
    const server = await start(async (request) => {
      const { response, target } = sendEvents(request);
      watch(target, closes);
      const failing = new ReadableStream({
        start(controller) {
          controller.error(new Error("source failed"));
        },
      });
      target.pipeFrom(failing).catch(() => {});
      await vi.waitFor(() => expect(target.closed).toBe(true));
      return response;
    });
    const connection = open(server, get("/"));
    expect(await connection.closesWithin(5000)).toBe(true);
    expect(connection.text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(connection.text).not.toContain("0\r\n\r\n");
    expect(closes.map((close) => close.reason)).toEqual(["error"]);
  });

  test("node sends the head, the events and a clean end for a stream closed before the handler returned", async () => {
    const server = await start(async (request) => {
      const { response, target } = sendEvents(request);
      target.dispatchMessage("before");
      void target.close();
      await delay(10);
      return response;
    });
    const connection = open(server, get("/"));
    const text = await connection.until((text) => text.endsWith("0\r\n\r\n"));
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toContain("data: before");
  });

  test("node sends nothing for a stream whose client left while the handler ran", async () => {
    const closes: Closed[] = [];
    let returned!: () => void;
    const done = new Promise<void>((resolve) => {
      returned = resolve;
    });
    const server = await start(async (request) => {
      const { response, target } = sendEvents(request);
      watch(target, closes);
      await vi.waitFor(() => expect(target.closed).toBe(true));
      returned();
      return response;
    });
    const connection = open(server, get("/"));
    await delay(20);
    connection.destroy();
    await done;
    expect(closes.map((close) => close.reason)).toEqual(["client"]);
  });
});

describe("sendevents/node over HTTP/2: streams that end early or are not sent", () => {
  async function h2(
    server: NodeServer,
    headers: http2.OutgoingHttpHeaders,
  ): Promise<{ status: number; contentType: unknown; body: string; reset: boolean }> {
    const session = http2.connect(server.url);
    session.on("error", () => {});
    try {
      const stream = session.request(headers);
      let body = "";
      let reset = false;
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        body += chunk;
      });
      stream.on("error", () => {
        reset = true;
      });
      const head = await new Promise<http2.IncomingHttpHeaders>((resolve) => {
        stream.once("response", resolve);
        stream.once("close", () => resolve({}));
      });
      await new Promise((resolve) =>
        stream.closed ? resolve(undefined) : stream.once("close", resolve),
      );
      return {
        status: Number(head[":status"] ?? 0),
        contentType: head["content-type"],
        body,
        reset,
      };
    } finally {
      session.destroy();
    }
  }

  test("node:http2 sends the head and resets the stream for a stream that overflowed in the handler", async () => {
    const closes: Closed[] = [];
    const server = await serve(
      (request) => {
        const { response, target } = sendEvents(request);
        watch(target, closes);
        target.dispatchMessage("x".repeat(2 * 1024 * 1024));
        return response;
      },
      { http2: true },
    );
    servers.push(server);
    const result = await h2(server, { ":path": "/" });
    expect(result.status).toBe(200);
    expect(result.contentType).toBe("text/event-stream");
    expect(result.reset).toBe(true);
    expect(closes.map((close) => close.reason)).toEqual(["overflow"]);
  });

  test("node:http2 answers HEAD with the headers and ends the target with reason server", async () => {
    const closes: Closed[] = [];
    const server = await serve(
      (request) => {
        const { response, target } = sendEvents(request);
        watch(target, closes);
        target.dispatchMessage("never sent");
        return response;
      },
      { http2: true },
    );
    servers.push(server);
    const result = await h2(server, { ":path": "/", ":method": "HEAD" });
    expect(result.status).toBe(200);
    expect(result.contentType).toBe("text/event-stream");
    expect(result.body).toBe("");
    await vi.waitFor(() => expect(closes.map((close) => close.reason)).toEqual(["server"]));
  });

  test("node:http2 ends with reason error a stream whose handler answered 401 instead", async () => {
    const closes: Closed[] = [];
    const server = await serve(
      (request) => {
        const { target } = sendEvents(request);
        watch(target, closes);
        return new Response("no", { status: 401 });
      },
      { http2: true },
    );
    servers.push(server);
    const result = await h2(server, { ":path": "/" });
    expect(result.status).toBe(401);
    await vi.waitFor(() => expect(closes.map((close) => close.reason)).toEqual(["error"]));
  });
});

describe("sendevents/node: streams made too late or by a failing error handler", () => {
  test("node ends with reason error a stream made for a request after its response was sent", async () => {
    const closes: Closed[] = [];
    const server = await serve((request) => {
      setTimeout(() => watch(sendEvents(request).target, closes), 50);
      return new Response("no", { status: 401 });
    });
    servers.push(server);
    const response = await fetch(server.url);
    expect(response.status).toBe(401);
    await response.text();
    await vi.waitFor(() => expect(closes.map((close) => close.reason)).toEqual(["error"]));
  });

  test("node ends with reason error a stream whose handler threw and whose onError threw too", async () => {
    const closes: Closed[] = [];
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const server = await serve(
        (request) => {
          watch(sendEvents(request).target, closes);
          throw new Error("handler");
        },
        {
          onError: () => {
            throw new Error("onError");
          },
        },
      );
      servers.push(server);
      const response = await fetch(server.url);
      expect(response.status).toBe(500);
      await vi.waitFor(() => expect(closes.map((close) => close.reason)).toEqual(["error"]));
    } finally {
      logged.mockRestore();
    }
  });
});

describe("sendevents/node: the client leaving while the handler runs", () => {
  for (const method of ["GET", "HEAD"]) {
    test(`node ends with reason client a ${method} stream closed by the handler after its client left`, async () => {
      const closes: Closed[] = [];
      let ended: Promise<void> | undefined;
      let returned!: () => void;
      const done = new Promise<void>((resolve) => {
        returned = resolve;
      });
      const server = await serve(async (request) => {
        const { response, target } = sendEvents(request);
        watch(target, closes);
        target.dispatchMessage("queued");
        await vi.waitFor(() => expect(request.signal.aborted).toBe(true));
        ended = target.close();
        setTimeout(returned, 10);
        return response;
      });
      servers.push(server);
      const connection = open(server, get("/").replace("GET", method));
      await delay(20);
      connection.destroy();
      await done;
      await ended;
      await vi.waitFor(() => expect(closes).toHaveLength(1));
      // close() had to wait for a client that is gone: the client left first.
      expect(closes[0]!.reason).toBe("client");
    });
  }
});
