import { Hono } from "hono";
import { basicAuth } from "hono/basic-auth";
import { bearerAuth } from "hono/bearer-auth";
import { compress } from "hono/compress";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { testClient } from "hono/testing";
import { timeout } from "hono/timeout";
import { afterEach, describe, expect, expectTypeOf, test, vi } from "vitest";
import {
  type EventsOptions,
  events,
  type SendEventsFunction,
  type ServerSentEventsEnv,
  serverSentEvents,
} from "../adapters/hono.ts";
import {
  DEFAULT_HEADERS,
  ServerSentEvent,
  type ServerSentEventTarget,
  type StreamCloseEvent,
} from "../src/index.ts";
import { delay, once, parse, readUntil } from "./helpers/stream.ts";

const decoder = new TextDecoder();
const readers: ReadableStreamDefaultReader<Uint8Array>[] = [];
afterEach(async () => {
  for (const reader of readers.splice(0)) await reader.cancel().catch(() => {});
});

function read(response: Response): ReadableStreamDefaultReader<Uint8Array> {
  const reader = response.body!.getReader();
  readers.push(reader);
  return reader;
}

/** A promise for the target the route opens next, and the route's handler. */
function capture(): {
  opened: Promise<ServerSentEventTarget>;
  resolve: (target: ServerSentEventTarget) => void;
} {
  let resolve!: (target: ServerSentEventTarget) => void;
  const opened = new Promise<ServerSentEventTarget>((r) => {
    resolve = r;
  });
  return { opened, resolve };
}

describe("events (sendevents/hono)", () => {
  test("events answers with the event stream headers and the dispatched events", async () => {
    const app = new Hono().get(
      "/sse",
      events((_c, target) => {
        target.dispatchMessage({ hello: "world" });
        target.dispatchEvent(new ServerSentEvent("ping", "line 1\nline 2", { id: 0 }));
        void target.close();
      }),
    );
    const response = await app.request("/sse");
    expect(response.status).toBe(200);
    for (const [name, value] of Object.entries(DEFAULT_HEADERS)) {
      if (name !== "cache-control") expect(response.headers.get(name)).toBe(value);
    }
    // no-transform keeps Hono's compress (and proxies) from buffering the stream.
    expect(response.headers.get("cache-control")).toBe("no-cache, no-transform");
    const { events: received } = parse(await response.text());
    expect(received).toEqual([
      { event: undefined, id: undefined, data: '{"hello":"world"}' },
      { event: "ping", id: "0", data: "line 1\nline 2" },
    ]);
  });

  test("events keeps the stream open after the callback returns, until target.close()", async () => {
    const { opened, resolve } = capture();
    const app = new Hono().get(
      "/sse",
      events((_c, target) => {
        resolve(target);
        target.dispatchMessage("first");
      }),
    );
    const reader = read(await app.request("/sse"));
    const target = await opened;
    await readUntil(reader, (text) => text.includes("data: first\n\n"));
    await delay(50);
    expect(target.closed).toBe(false);
    expect(target.dispatchMessage("later")).toBe(true);
    await readUntil(reader, (text) => text.includes("data: later\n\n"));
    const closed = once<StreamCloseEvent>(target, "close");
    await target.close();
    expect((await closed).reason).toBe("server");
    expect((await reader.read()).done).toBe(true);
  });

  test("events sends what an async callback dispatches as it goes, not when it resolves", async () => {
    let finish!: () => void;
    const finished = new Promise<void>((r) => {
      finish = r;
    });
    const app = new Hono().get(
      "/sse",
      events(async (_c, target) => {
        target.dispatchMessage("before");
        await finished;
        target.dispatchMessage("after");
        await target.close();
      }),
    );
    const reader = read(await app.request("/sse"));
    await readUntil(reader, (text) => text.includes("data: before\n\n"));
    finish();
    await readUntil(reader, (text) => text.includes("data: after\n\n"));
  });

  test("events gives the callback the typed context: path params, env and variables", async () => {
    const app = new Hono<{ Variables: { user: string } }>()
      .use(async (c, next) => {
        c.set("user", "ada");
        await next();
      })
      .get(
        "/rooms/:room",
        events((c, target) => {
          // Hono's overloads do not pass the path to a handler factory: the param is string | undefined.
          target.dispatchMessage({ room: c.req.param("room"), user: c.var.user });
          void target.close();
        }),
      );
    const { events: received } = parse(await (await app.request("/rooms/kitchen")).text());
    expect(received.map((e) => e.data)).toEqual(['{"room":"kitchen","user":"ada"}']);
  });

  test("events passes a thrown error to app.onError and closes the target with reason error", async () => {
    const { opened, resolve } = capture();
    const reasons: string[] = [];
    const app = new Hono()
      .get(
        "/sse",
        events((_c, target) => {
          resolve(target);
          target.addEventListener("close", (e) => reasons.push(e.reason));
          throw new HTTPException(403, { message: "Not yours" });
        }),
      )
      .onError((error, c) =>
        c.text(`handled: ${error.message}`, error instanceof HTTPException ? error.status : 500),
      );
    const response = await app.request("/sse");
    expect(response.status).toBe(403);
    expect(await response.text()).toBe("handled: Not yours");
    expect((await opened).closed).toBe(true);
    expect(reasons).toEqual(["error"]);
  });

  test("events closes the stream with reason error when an async callback rejects, and keeps the message from the client", async () => {
    const { opened, resolve } = capture();
    const onError = vi.fn<NonNullable<EventsOptions["onError"]>>();
    const app = new Hono().get(
      "/sse",
      events(
        async (_c, target) => {
          resolve(target);
          target.dispatchMessage("sent");
          await delay(10);
          throw new Error("secret database password");
        },
        { onError },
      ),
    );
    const response = await app.request("/sse");
    expect(response.status).toBe(200);
    const target = await opened;
    const closed = once<StreamCloseEvent>(target, "close");
    const chunks: string[] = [];
    const reader = read(response);
    const outcome = (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return "done";
        chunks.push(decoder.decode(value));
      }
    })().catch(() => "errored");
    const event = await closed;
    expect(event.reason).toBe("error");
    expect((event.error as Error).message).toBe("secret database password");
    expect(onError).toHaveBeenCalledTimes(1);
    expect((onError.mock.calls[0]![0] as Error).message).toBe("secret database password");
    expect(await outcome).toBe("errored");
    expect(chunks.join("")).toContain("data: sent");
    expect(chunks.join("")).not.toContain("secret");
  });

  test("events logs a late rejection with console.error when no onError is given", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    try {
      const { opened, resolve } = capture();
      const app = new Hono().get(
        "/sse",
        events(async (_c, target) => {
          resolve(target);
          await delay(1);
          throw new Error("late");
        }),
      );
      const reader = read(await app.request("/sse"));
      const closed = once<StreamCloseEvent>(await opened, "close");
      reader.read().catch(() => {});
      expect((await closed).reason).toBe("error");
      expect(logged).toHaveBeenCalledWith(expect.objectContaining({ message: "late" }));
    } finally {
      logged.mockRestore();
    }
  });

  test("events fires close with reason client when the request is aborted", async () => {
    const { opened, resolve } = capture();
    const app = new Hono().get(
      "/sse",
      events((_c, target) => resolve(target)),
    );
    const abort = new AbortController();
    const response = await app.request("/sse", { signal: abort.signal });
    const target = await opened;
    const closed = once<StreamCloseEvent>(target, "close");
    abort.abort();
    expect((await closed).reason).toBe("client");
    await response.body?.cancel();
  });

  test("events fires close with reason client when the body is cancelled", async () => {
    const { opened, resolve } = capture();
    const app = new Hono().get(
      "/sse",
      events((_c, target) => resolve(target)),
    );
    const response = await app.request("/sse");
    const target = await opened;
    const closed = once<StreamCloseEvent>(target, "close");
    await response.body!.cancel();
    expect((await closed).reason).toBe("client");
    expect(target.dispatchMessage("gone")).toBe(false);
  });

  test("events answers HEAD with the headers and no body, and closes the target with reason server", async () => {
    const { opened, resolve } = capture();
    const reasons: string[] = [];
    const app = new Hono().get(
      "/sse",
      events((_c, target) => {
        resolve(target);
        target.addEventListener("close", (e) => reasons.push(e.reason));
      }),
    );
    const response = await app.request("/sse", { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(response.body).toBe(null);
    const target = await opened;
    await delay(0);
    expect(target.closed).toBe(true);
    expect(reasons).toEqual(["server"]);
  });

  test("events registers the stream with executionCtx.waitUntil when the runtime gives one", async () => {
    const { opened, resolve } = capture();
    const pending: Promise<unknown>[] = [];
    const executionCtx = {
      waitUntil: (promise: Promise<unknown>) => pending.push(promise),
      passThroughOnException: () => {},
      props: {},
    };
    const app = new Hono().get(
      "/sse",
      events((_c, target) => resolve(target)),
    );
    const response = await app.request("/sse", {}, {}, executionCtx);
    expect(pending).toHaveLength(1);
    const body = response.text();
    let settled = false;
    void pending[0]!.then(() => {
      settled = true;
    });
    await delay(10);
    expect(settled).toBe(false);
    await (await opened).close();
    await pending[0];
    expect(settled).toBe(true);
    expect(await body).toBe(":\n\n");
  });

  test("events passes its options to the stream: extra headers replace defaults", async () => {
    const app = new Hono().get(
      "/sse",
      events((_c, target) => void target.close(), {
        headers: { "Cache-Control": "no-store", "X-Room": "kitchen" },
        keepAlive: false,
      }),
    );
    const response = await app.request("/sse");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(response.headers.get("x-room")).toBe("kitchen");
    await response.text();
  });

  test("events ends the stream when the callback returns a thenable whose then throws, as for a callback that throws", async () => {
    for (const result of [
      {
        // biome-ignore lint/suspicious/noThenProperty: a thenable whose then throws is the case under test.
        get then(): never {
          throw new Error("then getter threw");
        },
      },
      {
        // biome-ignore lint/suspicious/noThenProperty: a thenable whose then throws is the case under test.
        then(): never {
          throw new Error("then threw");
        },
      },
    ]) {
      const closes: StreamCloseEvent[] = [];
      const app = new Hono();
      app.onError((error, c) => c.text(`failed: ${error.message}`, 500));
      app.get(
        "/sse",
        events((_c, target) => {
          target.addEventListener("close", (event) => closes.push(event));
          return result as never;
        }),
      );
      const response = await app.request("/sse");
      expect(response.status).toBe(500);
      expect(await response.text()).toMatch(/^failed: then/);
      // At once, as for a callback that throws: not once the unsent body is collected.
      expect(closes.map((event) => event.reason)).toEqual(["error"]);
    }
  });

  test("events throws a TypeError naming the value when the callback is not a function", () => {
    expect(() => events("nope" as never)).toThrow(
      new TypeError(
        "Cannot create events handler: the callback must be a function, received string",
      ),
    );
  });

  test("events throws a TypeError naming the value when onError is not a function", () => {
    expect(() => events(() => {}, { onError: "log" as never })).toThrow(
      new TypeError('Cannot create events handler: "onError" must be a function, received string'),
    );
  });

  test("events and serverSentEvents type the target and c.var.sendEvents without casts", () => {
    new Hono().get(
      "/typed",
      events((_c, target: ServerSentEventTarget<{ tick: { n: number } }>) => {
        expectTypeOf(target.dispatchEvent)
          .parameter(0)
          .toEqualTypeOf<ServerSentEvent<"tick", { n: number }>>();
      }),
    );
    new Hono().get("/typed", serverSentEvents(), (c) => {
      expectTypeOf(c.var.sendEvents).toEqualTypeOf<SendEventsFunction>();
      expectTypeOf(c.var.sendEvents<{ ping: string }>()).toEqualTypeOf<
        ServerSentEventTarget<{ ping: string }>
      >();
      return c.res;
    });
    new Hono<ServerSentEventsEnv>().get("/typed", (c) => {
      expectTypeOf(c.var.sendEvents).toEqualTypeOf<SendEventsFunction>();
      return c.res;
    });
  });

  test("events works behind cors: the CORS headers reach the event stream", async () => {
    const app = new Hono().use(cors({ origin: "https://example.com" })).get(
      "/sse",
      events((_c, target) => void target.close()),
    );
    const response = await app.request("/sse", { headers: { Origin: "https://example.com" } });
    expect(response.headers.get("access-control-allow-origin")).toBe("https://example.com");
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    await response.text();
  });

  test("events behind compress: the stream is never compressed, even when compress is told to", async () => {
    const app = new Hono()
      .get(
        "/default",
        compress(),
        events((_c, target) => void target.close()),
      )
      .get(
        "/forced",
        compress({ contentTypeFilter: () => true, threshold: 0 }),
        events((_c, target) => void target.close()),
      );
    for (const path of ["/default", "/forced"]) {
      const response = await app.request(path, { headers: { "Accept-Encoding": "gzip" } });
      expect(response.headers.get("content-encoding"), path).toBe(null);
      expect(await response.text(), path).toBe(":\n\n");
    }
  });

  test("events behind bearerAuth: a rejected request gets 401 and no stream is opened", async () => {
    const callback = vi.fn((_c: unknown, target: ServerSentEventTarget) => void target.close());
    const app = new Hono().get("/sse", bearerAuth({ token: "s3cret" }), events(callback));
    const rejected = await app.request("/sse");
    expect(rejected.status).toBe(401);
    expect(rejected.headers.get("content-type")).not.toBe("text/event-stream");
    await rejected.text();
    expect(callback).not.toHaveBeenCalled();
    const accepted = await app.request("/sse", { headers: { Authorization: "Bearer s3cret" } });
    expect(accepted.status).toBe(200);
    await accepted.text();
    expect(callback).toHaveBeenCalledTimes(1);
  });

  test("events behind timeout: the stream outlives the timeout", async () => {
    const { opened, resolve } = capture();
    const app = new Hono().get(
      "/sse",
      timeout(30),
      events((_c, target) => resolve(target)),
    );
    const response = await app.request("/sse");
    expect(response.status).toBe(200);
    const reader = read(response);
    const target = await opened;
    await delay(100);
    expect(target.closed).toBe(false);
    target.dispatchMessage("still here");
    await readUntil(reader, (text) => text.includes("data: still here\n\n"));
  });

  test("events works through hono/testing's testClient", async () => {
    const app = new Hono().get(
      "/sse",
      events((_c, target) => {
        target.dispatchMessage("via testClient");
        void target.close();
      }),
    );
    const response = await testClient(app).sse.$get();
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(parse(await response.text()).events.map((e) => e.data)).toEqual(["via testClient"]);
  });
});

describe("serverSentEvents (sendevents/hono)", () => {
  test("serverSentEvents gives the handler a typed c.var.sendEvents; the handler returns c.res", async () => {
    const app = new Hono().get("/sse", serverSentEvents(), (c) => {
      const target = c.var.sendEvents<{ ping: { n: number } }>();
      target.dispatchEvent(new ServerSentEvent("ping", { n: 1 }));
      void target.close();
      return c.res;
    });
    const response = await app.request("/sse");
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    expect(parse(await response.text()).events).toEqual([
      { event: "ping", id: undefined, data: '{"n":1}' },
    ]);
  });

  test("serverSentEvents lets an async handler return nothing, and keeps the stream open", async () => {
    const { opened, resolve } = capture();
    const app = new Hono().get("/sse", serverSentEvents(), async (c) => {
      const target = c.var.sendEvents();
      target.dispatchMessage("hello");
      resolve(target);
    });
    const reader = read(await app.request("/sse"));
    await readUntil(reader, (text) => text.includes("data: hello\n\n"));
    const target = await opened;
    await delay(20);
    expect(target.closed).toBe(false);
  });

  test("serverSentEvents returns the same target to a second call", async () => {
    let same = false;
    const app = new Hono().get("/sse", serverSentEvents(), (c) => {
      const target = c.var.sendEvents();
      same = c.var.sendEvents() === target;
      void target.close();
      return c.res;
    });
    await (await app.request("/sse")).text();
    expect(same).toBe(true);
  });

  test("serverSentEvents ends a stream the handler opened and then replaced (a 401), with reason error", async () => {
    const closes: { reason: string; error: unknown }[] = [];
    const app = new Hono().get("/sse", serverSentEvents(), (c) => {
      const target = c.var.sendEvents();
      target.addEventListener("close", (event) => closes.push(event));
      target.dispatchMessage("never sent");
      // Once the stream is open it is the route's response (Hono ignores a returned one), so a
      // handler that changes its mind replaces c.res.
      c.res = c.text("Unauthorized", 401);
      return c.res;
    });
    const response = await app.request("/sse");
    expect(response.status).toBe(401);
    expect(await response.text()).toBe("Unauthorized");
    expect(closes.map((event) => event.reason)).toEqual(["error"]);
    expect(String(closes[0]!.error)).toContain("the handler answered with another response");
  });

  test("serverSentEvents keeps a stream the handler wrapped in a response of its own", async () => {
    let opened: ServerSentEventTarget | undefined;
    const app = new Hono().get("/sse", serverSentEvents({ keepAlive: false }), (c) => {
      const target = c.var.sendEvents();
      opened = target;
      target.dispatchMessage("wrapped");
      void target.close();
      const copy = new TransformStream<Uint8Array, Uint8Array>();
      void c.res.body!.pipeTo(copy.writable);
      c.res = new Response(copy.readable, { headers: c.res.headers });
      return c.res;
    });
    const response = await app.request("/sse");
    expect(await response.text()).toBe(":\n\ndata: wrapped\n\n");
    expect(opened!.closed).toBe(true);
  });

  test("serverSentEvents leaves the route free to answer otherwise before it opens a stream", async () => {
    const app = new Hono().get("/feed/:user", serverSentEvents(), (c) => {
      if (c.req.param("user") !== "ada") return c.text("Unknown user", 404);
      const target = c.var.sendEvents();
      void target.close();
      return c.res;
    });
    const missing = await app.request("/feed/bob");
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe("Unknown user");
    const found = await app.request("/feed/ada");
    expect(found.headers.get("content-type")).toBe("text/event-stream");
    await found.text();
  });

  test("serverSentEvents keeps headers set before the stream opened, and per-call options win", async () => {
    const app = new Hono().get(
      "/sse",
      serverSentEvents({ headers: { "X-From": "defaults" }, keepAlive: false }),
      (c) => {
        c.header("X-Before", "kept");
        const target = c.var.sendEvents({ headers: { "X-From": "call" } });
        void target.close();
        return c.res;
      },
    );
    const response = await app.request("/sse");
    expect(response.headers.get("x-before")).toBe("kept");
    expect(response.headers.get("x-from")).toBe("call");
    expect(response.headers.get("content-type")).toBe("text/event-stream");
    await response.text();
  });

  test("serverSentEvents sends a handler error after opening to app.onError and closes the target with reason error", async () => {
    const { opened, resolve } = capture();
    const app = new Hono<ServerSentEventsEnv>()
      .get("/sse", serverSentEvents(), (c) => {
        const target = c.var.sendEvents();
        resolve(target);
        throw new Error("broken");
      })
      .onError((error, c) => c.text(`handled: ${error.message}`, 500));
    const response = await app.request("/sse");
    expect(response.status).toBe(500);
    expect(await response.text()).toBe("handled: broken");
    const target = await opened;
    expect(target.closed).toBe(true);
  });

  test("serverSentEvents behind basicAuth: a rejected request gets 401 and never opens a stream", async () => {
    const opened = vi.fn();
    const app = new Hono().get(
      "/sse",
      basicAuth({ username: "ada", password: "s3cret" }),
      serverSentEvents(),
      (c) => {
        opened();
        void c.var.sendEvents().close();
        return c.res;
      },
    );
    const rejected = await app.request("/sse", {
      headers: { Authorization: `Basic ${btoa("ada:wrong")}` },
    });
    expect(rejected.status).toBe(401);
    expect(rejected.headers.get("www-authenticate")).toContain("Basic");
    await rejected.text();
    expect(opened).not.toHaveBeenCalled();
    const accepted = await app.request("/sse", {
      headers: { Authorization: `Basic ${btoa("ada:s3cret")}` },
    });
    expect(accepted.headers.get("content-type")).toBe("text/event-stream");
    await accepted.text();
    expect(opened).toHaveBeenCalledTimes(1);
  });
});
