import * as http from "node:http";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { createListener, type NodeServer, serve } from "../adapters/node.ts";
import { bodyOf, get, RawConnection } from "./helpers/raw-http.ts";
import { type LaunchedServer, launch } from "./runtimes/launch.ts";

const VERSIONS = ["node18", "node20", "node22", "node24"] as const;

describe.each(VERSIONS)("sendevents/node's Request on %s", (runtime) => {
  // Each Node version from test/runtimes/node-versions (`npm test` installs them first).
  let server: LaunchedServer;
  beforeAll(async () => {
    server = await launch(runtime, "test/runtimes/request-probe-server.mjs", {
      runtimeArgs: ["--allow-natives-syntax"],
    });
  }, 60_000);
  afterAll(() => server?.stop());

  test(`${runtime}: new Request(request), Request.prototype.clone.call(request) and the getters work on the adapter's Request`, async () => {
    const response = await fetch(new URL("/probe?q=1", server.url), {
      method: "POST",
      headers: { "X-Probe": "yes" },
      body: "payload",
    });
    const url = new URL("/probe?q=1", server.url).href;
    expect(await response.json()).toEqual({
      isRequest: true,
      url,
      cloneCall: "payload",
      urlGetter: true,
      copyWithInit: `POST ${url} changed payload`,
      copy: `POST ${url} yes payload true`,
    });
  });

  test(`${runtime}: the adapter's Request keeps V8's fast properties (no per-request redefinition)`, async () => {
    // Redefining undici's signal slot on each request made every one a dictionary-mode object,
    // some 3 µs a connect; the slot is an accessor on the prototype instead.
    const response = await fetch(new URL("/shape", server.url));
    expect(await response.json()).toEqual({ fast: true });
  });

  // The adapter hands undici the fields as `Headers` (less garbage than pairs): the Request must
  // come out as new Request makes it of the pairs, a name sent twice, `__proto__` and
  // Object.prototype's names included.
  test.each([
    [
      "distinct names, some of them Object.prototype's",
      [
        ["X-A", "1"],
        ["x-a", "2"],
        ["constructor", "c"],
        ["toString", "t"],
        ["hasOwnProperty", "h"],
        ["123", "n"],
        ["X-Padded", "  padded\t "],
      ],
    ],
    [
      "a name sent twice",
      [
        ["X-B", "1"],
        ["Accept", "text/event-stream"],
        ["X-B", "2"],
        ["Cookie", "a=1"],
        ["Cookie", "b=2"],
        ["Set-Cookie", "s=1"],
        ["Set-Cookie", "s=2"],
      ],
    ],
    [
      "a field named __proto__",
      [
        ["__proto__", "p"],
        ["X-C", "3"],
      ],
    ],
  ])(
    `${runtime}: the adapter's Request has the header fields new Request makes of them: %s`,
    async (_name, fields) => {
      const port = Number(new URL(server.url).port);
      const sent = [["Host", `127.0.0.1:${port}`], ...fields];
      const head = [
        `GET /headers?sent=${encodeURIComponent(JSON.stringify(sent))} HTTP/1.1`,
        ...sent.map(([name, value]) => `${name}: ${value}`),
        "Connection: close",
        "",
        "",
      ].join("\r\n");
      const connection = new RawConnection(port, head);
      await connection.closed;
      const body = JSON.parse(bodyOf(connection.text));
      // The reference has no Connection field: the adapter's request does, and the copy with it.
      const withoutConnection = (list: { entries: [string, string][] }) => ({
        ...list,
        entries: list.entries.filter(([name]) => name !== "connection"),
      });
      expect(withoutConnection(body.seen)).toEqual(body.reference);
      expect(withoutConnection(body.copy)).toEqual(body.reference);
      expect(body.seen.entries.length).toBe(body.reference.entries.length + 1);
    },
  );

  test(`${runtime}: the signals of the adapter's Request, its copies and its clones abort when the client leaves`, async () => {
    const controller = new AbortController();
    const response = await fetch(new URL("/signals", server.url), { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read(); // the stream is open: the handler has made its copies
    const report = async () =>
      (await (await fetch(new URL("/signals/report", server.url))).json()) as Record<
        string,
        string
      >;
    expect(await report()).toEqual({
      own: "open",
      copy: "open",
      init: "open",
      clone: "open",
      cloneCall: "open",
    });
    controller.abort();
    let seen: Record<string, string> = {};
    for (let i = 0; i < 100; i++) {
      seen = await report();
      if (Object.values(seen).every((state) => state !== "open")) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(seen).toEqual({
      own: "AbortError",
      copy: "AbortError",
      init: "AbortError",
      clone: "AbortError",
      cloneCall: "AbortError",
    });
  });

  test(`${runtime}: fetch(request) forwards the adapter's Request, body and all`, async () => {
    const response = await fetch(new URL("/forward", server.url), {
      method: "PUT",
      headers: { "X-Probe": "forwarded" },
      body: "the body",
    });
    expect(await response.json()).toEqual({
      method: "PUT",
      probe: "forwarded",
      body: "the body",
    });
  });
});

describe("sendevents/node's request.url", () => {
  const servers: NodeServer[] = [];
  const connections: RawConnection[] = [];
  afterEach(async () => {
    for (const connection of connections.splice(0)) connection.destroy();
  });
  afterAll(async () => {
    for (const server of servers.splice(0)) await server.close();
  });
  let seen: string[] = [];
  async function urlServer(): Promise<NodeServer> {
    if (servers[0] !== undefined) return servers[0];
    const server = await serve((request) => {
      seen.push(request.url);
      return new Response(`url=${request.url}\nclone=${request.clone().url}`);
    });
    servers.push(server);
    return server;
  }
  /** Sends `head` on a fresh connection; the status and the body (the URL the handler saw). */
  async function send(head: string): Promise<{ status: number; body: string }> {
    const server = await urlServer();
    const connection = new RawConnection(server.port, head);
    connections.push(connection);
    const text = await connection
      .until(
        (text) =>
          /\r\n\r\n/.test(text) && (text.includes("\nclone=") || !text.startsWith("HTTP/1.1 200")),
        5000,
      )
      .catch(() => connection.text);
    connection.destroy();
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
    return { status, body: text.slice(text.indexOf("\r\n\r\n") + 4) };
  }
  const urlOf = (body: string): string => /url=([^\n]*)\n/.exec(body)?.[1] ?? "";

  test("node normalises the path and lowercases the host as new Request does", async () => {
    const { status, body } = await send(
      get("/a/../b/./c?x=1", []).replace("Host: 127.0.0.1", "Host: EXAMPLE.com:80"),
    );
    expect(status).toBe(200);
    expect(urlOf(body)).toBe("http://example.com/b/c?x=1");
    expect(body).toContain("clone=http://example.com/b/c?x=1");
  });

  test("node takes an absolute-form target's URL over Host (RFC 9112 §3.2.2)", async () => {
    const { status, body } = await send(
      "GET http://Other.example/abs HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    );
    expect(status).toBe(200);
    expect(urlOf(body)).toBe("http://other.example/abs");
  });

  for (const [name, head] of [
    ["Host: a b", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"],
    ["a Host that rewrites the path", "GET /x HTTP/1.1\r\nHost: evil.example/admin?\r\n\r\n"],
    ["a Host with credentials", "GET / HTTP/1.1\r\nHost: user@evil.example\r\n\r\n"],
    [
      "an empty Host, which would make the path's first segment the host",
      "GET /evil.example/x HTTP/1.1\r\nHost:\r\n\r\n",
    ],
    ["two Host fields", "GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n"],
    [
      "an absolute-form target with credentials",
      "GET http://u:p@h.example/ HTTP/1.1\r\nHost: h\r\n\r\n",
    ],
    ["an asterisk-form target", "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n"],
    ["an absolute target of another scheme", "GET ftp://h.example/ HTTP/1.1\r\nHost: h\r\n\r\n"],
  ] as const) {
    test(`node refuses ${name} with 400 and runs no handler`, async () => {
      seen = [];
      const { status } = await send(head);
      expect(status).toBe(400);
      expect(seen).toEqual([]);
    });
  }

  test("node answers TRACE, which a Request cannot carry, with 501", async () => {
    seen = [];
    const { status } = await send("TRACE / HTTP/1.1\r\nHost: h\r\n\r\n");
    expect(status).toBe(501);
    expect(seen).toEqual([]);
  });

  test("node's request.url is byte for byte new Request's, or the request is refused (property)", async () => {
    const hostChar = fc.constantFrom(..."aZ09-._~!$&'()*+,;=%:[]@/?# \\^|<>\"{}`".split(""));
    const pathChar = fc.constantFrom(..."aZ09-._~!$&'()*+,;=%:@/?#\\^|[]{}`".split(""));
    const GOOD_HOSTS = [
      "example.com",
      "EXAMPLE.com:8080",
      "127.0.0.1",
      "[::1]:80",
      "xn--bcher-kva.example",
    ];
    const GOOD_PATHS = [
      "/",
      "/a/../b",
      "/./c/",
      "/%2e%2E/x",
      "//double",
      "/q?x=/../y",
      "/a%20b?c=%zz",
    ];
    const host = fc.oneof(
      fc.constantFrom(...GOOD_HOSTS),
      fc.array(hostChar, { maxLength: 12 }).map((chars) => chars.join("")),
    );
    const path = fc.oneof(
      fc.constantFrom(...GOOD_PATHS),
      fc.array(pathChar, { maxLength: 16 }).map((chars) => `/${chars.join("")}`),
    );
    await fc.assert(
      fc.asyncProperty(host, path, async (hostValue, pathValue) => {
        seen = [];
        const { status, body } = await send(
          `GET ${pathValue} HTTP/1.1\r\nHost: ${hostValue}\r\n\r\n`,
        );
        if (GOOD_HOSTS.includes(hostValue) && GOOD_PATHS.includes(pathValue)) {
          expect(status).toBe(200);
        }
        if (status !== 200) {
          // Refused, by Node's parser or by the adapter: then no handler saw it.
          expect([400, 0]).toContain(status);
          expect(seen).toEqual([]);
          return;
        }
        // The handler ran: its URL is exactly what new Request makes of the authority and the
        // target, and the host is the one the client named (the authority cannot move the path).
        // A field value's leading and trailing whitespace is not part of it (RFC 9110 §5.5).
        const authority = hostValue.replace(/^[ \t]+|[ \t]+$/g, "");
        const expected = new Request(`http://${authority}${pathValue}`).url;
        expect(urlOf(body)).toBe(expected);
        expect(seen).toEqual([expected]);
        expect(new URL(expected).host).toBe(new URL(`http://${authority}/`).host);
        // The authority did not eat into the target: path, query and fragment are the target's.
        const where = (url: URL): string => url.pathname + url.search + url.hash;
        expect(where(new URL(expected))).toBe(where(new URL(`http://h${pathValue}`)));
      }),
      { numRuns: 300 },
    );
  }, 60_000);
});

describe("sendevents/node's request.url over HTTP/2", () => {
  let server: NodeServer;
  const seen: string[] = [];
  beforeAll(async () => {
    server = await serve(
      (request) => {
        seen.push(request.url);
        return new Response(request.url);
      },
      { http2: true },
    );
  });
  afterAll(() => server.close());

  async function send(
    headers: http2.OutgoingHttpHeaders,
  ): Promise<{ status: number; body: string }> {
    const session = http2.connect(server.url);
    session.on("error", () => {});
    try {
      const stream = session.request(headers);
      const closed = new Promise((resolve) => stream.once("close", resolve));
      stream.setEncoding("utf8");
      let body = "";
      stream.on("data", (chunk: string) => {
        body += chunk;
      });
      // nghttp2 resets a stream whose pseudo-headers it finds malformed itself: status 0.
      const status = await new Promise<number>((resolve) => {
        stream.once("response", (head) => resolve(Number(head[":status"])));
        stream.once("error", () => resolve(0));
      });
      await closed;
      return { status, body };
    } finally {
      session.destroy();
    }
  }

  test("node:http2 builds the URL from :scheme, :authority and :path as new Request does", async () => {
    const { status, body } = await send({
      ":authority": "EXAMPLE.com:8443",
      ":scheme": "https",
      ":path": "/a/../b",
    });
    expect(status).toBe(200);
    expect(body).toBe("https://example.com:8443/b");
  });

  for (const [name, headers] of [
    [
      "an :authority that rewrites the path",
      { ":authority": "evil.example/admin?", ":path": "/x" },
    ],
    ["an :authority with a space", { ":authority": "a b", ":path": "/" }],
    ["a :scheme other than http or https", { ":scheme": "ftp", ":path": "/" }],
    [
      "a Host that names another authority than :authority",
      { ":authority": "a.example", host: "b.example", ":path": "/" },
    ],
  ] as const) {
    test(`node:http2 refuses ${name} (400, or nghttp2's reset) and runs no handler`, async () => {
      seen.length = 0;
      const { status } = await send(headers);
      expect([0, 400]).toContain(status);
      expect(seen).toEqual([]);
    });
  }
});

describe("sendevents/node's request body", () => {
  let server: NodeServer;
  beforeAll(async () => {
    server = await serve(async (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/read") return new Response(`read ${(await request.text()).length}`);
      return new Response("not read", { status: 401 });
    });
  });
  afterAll(() => server.close());

  test("node answers the next request on a connection whose handler left a large body unread", async () => {
    const body = "x".repeat(4 * 1024 * 1024);
    const connection = new RawConnection(
      server.port,
      `POST /ignore HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    try {
      await connection.until((text) => text.includes("not read"));
      connection.socket.write(
        get("/read").replace("GET", "POST").replace("\r\n\r\n", "\r\nContent-Length: 3\r\n\r\nabc"),
      );
      await connection.until((text) => text.includes("read 3"), 10_000);
    } finally {
      connection.destroy();
    }
  });
});

describe("sendevents/node's request.url without Host", () => {
  test("node refuses an HTTP/1.1 request without Host with 400 even where Node lets it through", async () => {
    const seen: string[] = [];
    const server = http.createServer(
      { requireHostHeader: false },
      createListener((request) => {
        seen.push(request.url);
        return new Response(request.url);
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const eleven = new RawConnection(port, "GET / HTTP/1.1\r\n\r\n");
      await eleven.until((text) => text.includes("\r\n\r\n"));
      expect(eleven.text).toMatch(/^HTTP\/1\.1 400 /);
      eleven.destroy();
      expect(seen).toEqual([]);
      // HTTP/1.0 has no Host requirement: the URL names localhost, as it always has.
      const ten = new RawConnection(port, "GET /ten HTTP/1.0\r\n\r\n");
      await ten.closed;
      expect(ten.text).toMatch(/^HTTP\/1\.1 200 /);
      expect(seen).toEqual(["http://localhost/ten"]);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
