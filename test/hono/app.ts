// One Hono app, served unchanged on Node (@hono/node-server), Deno, Bun and workerd by the tests
// in this folder. Routes take `?key=` to record how their stream closed, read back at /closes/:key.
import { Hono } from "hono";
import { bearerAuth } from "hono/bearer-auth";
import { compress } from "hono/compress";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";
import { events, serverSentEvents } from "../../adapters/hono.ts";
import { ServerSentEvent, type ServerSentEventTarget } from "../../src/index.ts";

export const TOKEN = "s3cret";
/**
 * Runtimes that only learn of a client leaving at the next write (workerd) notice within one
 * keep-alive: keep it short, so the tests do not wait the default 5 s.
 */
const FAST_KEEP_ALIVE = { keepAlive: 500 };

export function createApp(): Hono {
  const closes = new Map<string, string[]>();
  let opened = 0;
  const record = (key: string | undefined, target: ServerSentEventTarget): void => {
    if (key === undefined) return;
    closes.set(key, []);
    target.addEventListener("close", (event) => closes.get(key)?.push(event.reason));
  };
  /** Dispatches `{ n, at }` every `every` ms (`at` is the dispatch time), `count` times then closes. */
  const ticks = (every: number, count: number) =>
    events((c, target) => {
      record(c.req.query("key"), target);
      let n = 0;
      const timer = setInterval(() => {
        target.dispatchEvent(new ServerSentEvent("tick", { n, at: Date.now() }, { id: n }));
        if (++n === count) void target.close();
      }, every);
      target.addEventListener("close", () => clearInterval(timer));
    });

  const app = new Hono();
  app.use("/cors/*", cors({ origin: "https://example.com" }));

  app.get(
    "/messages",
    events((c, target) => {
      record(c.req.query("key"), target);
      const n = Number(c.req.query("n") ?? 3);
      for (let i = 0; i < n; i++) target.dispatchMessage(`m${i}`, { id: i });
      if (c.req.query("close") !== undefined) void target.close();
    }, FAST_KEEP_ALIVE),
  );
  app.get("/ticks", ticks(50, Number.POSITIVE_INFINITY));
  app.get("/compressed", compress({ threshold: 0 }), ticks(100, 5));
  app.get(
    "/compressed-forced",
    compress({ threshold: 0, contentTypeFilter: () => true }),
    ticks(100, 5),
  );
  app.get("/cors/sse", ticks(50, 2));
  app.get(
    "/auth",
    bearerAuth({ token: TOKEN }),
    events((_c, target) => {
      opened++;
      target.dispatchMessage("welcome");
      void target.close();
    }),
  );
  app.get("/opened", (c) => c.json({ opened }));
  app.get(
    "/throw",
    events(() => {
      throw new Error("thrown before streaming");
    }),
  );
  app.get(
    "/reject",
    events(
      async (c, target) => {
        record(c.req.query("key"), target);
        target.dispatchMessage("about to fail");
        await new Promise((resolve) => setTimeout(resolve, 20));
        throw new Error("secret detail");
      },
      { onError: () => {} },
    ),
  );
  app.get("/middleware", serverSentEvents(FAST_KEEP_ALIVE), (c) => {
    const target = c.var.sendEvents();
    record(c.req.query("key"), target);
    target.dispatchMessage("from c.var.sendEvents");
    return c.res;
  });
  app.get("/closes/:key", (c) => c.json(closes.get(c.req.param("key")) ?? null));
  app.onError((error, c) =>
    error instanceof HTTPException ? error.getResponse() : c.text(`onError: ${error.message}`, 500),
  );
  return app;
}
