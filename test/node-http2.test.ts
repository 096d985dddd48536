import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as http2 from "node:http2";
import * as https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test, vi } from "vitest";
import { createListener, type NodeServer, serve } from "../adapters/node.ts";
import { ServerSentEvent, type StreamCloseEvent, sendEvents } from "../src/index.ts";
import { parse } from "./helpers/stream.ts";

/** A self-signed certificate for 127.0.0.1, made for this run with openssl. */
function makeCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), "sendevents-h2-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "pipe" },
    );
    return {
      key: readFileSync(join(dir, "key.pem"), "utf8"),
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The response of one HTTP/2 request, read as it arrives. */
interface H2Response {
  headers: http2.IncomingHttpHeaders;
  stream: http2.ClientHttp2Stream;
  text(): string;
  /** Resolves when the server ends the stream. */
  ended: Promise<void>;
  /** Resolves once the text so far satisfies `predicate`. */
  until(predicate: (text: string) => boolean): Promise<string>;
}

function request(session: http2.ClientHttp2Session, path: string): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ":path": path, accept: "text/event-stream" });
    stream.setEncoding("utf8");
    let text = "";
    const waiters = new Set<() => void>();
    stream.on("data", (chunk: string) => {
      text += chunk;
      for (const waiter of waiters) waiter();
    });
    const ended = new Promise<void>((resolveEnd) => stream.once("end", resolveEnd));
    stream.once("error", reject);
    stream.once("response", (headers) =>
      resolve({
        headers,
        stream,
        text: () => text,
        ended,
        until: (predicate) =>
          new Promise((resolveUntil) => {
            const check = (): void => {
              if (!predicate(text)) return;
              waiters.delete(check);
              resolveUntil(text);
            };
            waiters.add(check);
            check();
          }),
      }),
    );
  });
}

/** Connects an HTTP/2 client and records every error it raises. */
function connect(
  url: URL,
  options: http2.SecureClientSessionOptions = {},
): http2.ClientHttp2Session {
  const session = http2.connect(url, options);
  session.on("error", (error) => errors.push(error));
  sessions.push(session);
  return session;
}

/** A handler that sends a few events and then closes, or keeps the stream open on `/open`. */
const closes: StreamCloseEvent[] = [];
function handler(request: Request): Response {
  const path = new URL(request.url).pathname;
  if (path === "/plain") {
    // A response that is not an event stream, with headers HTTP/2 forbids.
    return new Response("plain", {
      headers: { connection: "keep-alive", "keep-alive": "timeout=5", "x-kept": "yes" },
    });
  }
  const { response, target } = sendEvents(request, { headers: { "x-custom": "yes" } });
  target.addEventListener("close", (event) => closes.push(event));
  target.dispatchMessage("hello");
  target.dispatchEvent(new ServerSentEvent("named", "line 1\nline 2", { id: 7 }));
  if (path !== "/open") void target.close();
  return response;
}

const errors: unknown[] = [];
const warnings: Error[] = [];
const sessions: http2.ClientHttp2Session[] = [];
const servers: NodeServer[] = [];
const onWarning = (warning: Error): void => {
  warnings.push(warning);
};
let consoleError: ReturnType<typeof vi.spyOn>;
let certificate: { key: string; cert: string };

beforeAll(() => {
  certificate = makeCertificate();
  process.on("warning", onWarning);
});
afterAll(() => {
  process.off("warning", onWarning);
});
beforeEach(() => {
  consoleError = vi.spyOn(console, "error");
});
afterEach(async () => {
  for (const session of sessions.splice(0)) session.close();
  for (const server of servers.splice(0)) await server.close();
  // Process warnings are emitted on the next tick.
  await new Promise((resolve) => setImmediate(resolve));
  expect(errors.splice(0)).toEqual([]);
  expect(warnings.splice(0).map(String)).toEqual([]);
  expect(consoleError).not.toHaveBeenCalled();
  consoleError.mockRestore();
  closes.length = 0;
});

async function start(options: Parameters<typeof serve>[1]): Promise<NodeServer> {
  const server = await serve(handler, options);
  server.server.on("sessionError", (error: unknown) => errors.push(error));
  servers.push(server);
  return server;
}

/** Resolves once `predicate` holds; rejects after `timeout` ms. */
async function waitFor(predicate: () => boolean, timeout: number): Promise<void> {
  const start = performance.now();
  while (!predicate()) {
    if (performance.now() - start > timeout) throw new Error(`Still waiting after ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function expectEvents(text: string): void {
  expect(parse(text).events).toEqual([
    { event: undefined, id: undefined, data: "hello" },
    { event: "named", id: "7", data: "line 1\nline 2" },
  ]);
}

describe("sendevents/node over node:http2", () => {
  test("node:http2 h2c streams events without Connection or Keep-Alive headers", async () => {
    const server = await start({ http2: true });
    const session = connect(server.url);
    const response = await request(session, "/");
    expect(response.headers[":status"]).toBe(200);
    expect(response.headers["content-type"]).toBe("text/event-stream");
    expect(response.headers["cache-control"]).toBe("no-cache");
    expect(response.headers["x-custom"]).toBe("yes");
    expect(response.headers).not.toHaveProperty("connection");
    expect(response.headers).not.toHaveProperty("keep-alive");
    await response.ended;
    expectEvents(response.text());
    expect(closes.map((event) => event.reason)).toEqual(["server"]);
  });

  test("node:http2 over TLS (ALPN h2) streams events without Connection or Keep-Alive headers", async () => {
    const server = await start({ http2: certificate });
    expect(server.url.protocol).toBe("https:");
    const session = connect(server.url, { ca: certificate.cert });
    const response = await request(session, "/");
    expect(session.alpnProtocol).toBe("h2");
    expect(response.headers[":status"]).toBe(200);
    expect(response.headers["content-type"]).toBe("text/event-stream");
    expect(response.headers).not.toHaveProperty("connection");
    expect(response.headers).not.toHaveProperty("keep-alive");
    await response.ended;
    expectEvents(response.text());
  });

  test("node:http2 over TLS still answers HTTP/1.1 clients, with their Connection header", async () => {
    const server = await start({ http2: certificate });
    // A keep-alive client: one that sends `Connection: close` gets `close` back (RFC 9112 §9.6).
    const agent = new https.Agent({ keepAlive: true, ca: certificate.cert });
    const { headers, body } = await new Promise<{
      headers: Record<string, unknown>;
      body: string;
    }>((resolve, reject) => {
      https
        .get(server.url, { agent }, (res) => {
          res.setEncoding("utf8");
          let body = "";
          res.on("data", (chunk: string) => {
            body += chunk;
          });
          res.once("end", () => resolve({ headers: res.headers, body }));
          res.once("error", reject);
        })
        .once("error", reject);
    });
    expect(headers["content-type"]).toBe("text/event-stream");
    expect(headers["connection"]).toMatch(/keep-alive/i);
    expectEvents(body);
    agent.destroy();
  });

  test("node:http2 drops connection headers from any fetch Response, not only event streams", async () => {
    const server = await start({ http2: true });
    const response = await request(connect(server.url), "/plain");
    expect(response.headers[":status"]).toBe(200);
    expect(response.headers["x-kept"]).toBe("yes");
    expect(response.headers).not.toHaveProperty("connection");
    expect(response.headers).not.toHaveProperty("keep-alive");
    await response.ended;
    expect(response.text()).toBe("plain");
  });

  test('node:http2 fires "close" with reason "client" when the client cancels its stream', async () => {
    const server = await start({ http2: true });
    const session = connect(server.url);
    const response = await request(session, "/open");
    await response.until((text) => text.includes("line 2"));
    response.stream.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => closes.length > 0, 2000);
    expect(closes.map((event) => event.reason)).toEqual(["client"]);
    // The session itself stays usable.
    const again = await request(session, "/");
    await again.ended;
    expectEvents(again.text());
  });

  test("createListener serves an existing http2.createServer", async () => {
    const server = http2.createServer(createListener(handler));
    server.on("sessionError", (error: unknown) => errors.push(error));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    try {
      const { port } = server.address() as { port: number };
      const session = connect(new URL(`http://127.0.0.1:${port}/`));
      const response = await request(session, "/");
      expect(response.headers).not.toHaveProperty("connection");
      await response.ended;
      expectEvents(response.text());
      session.close();
      await once(session, "close");
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
