// `npx wrangler dev`, the documented way to run the Workers example, serves it with the top-level
// wrangler.toml. The conformance suite runs the same worker on workerd through miniflare
// (workerd.test.ts); this checks the wrangler path once: wrangler's own proxy in front of the
// worker notices a client leaving one keep-alive later than miniflare alone, so it is not held
// to the suite's disconnect bound. wrangler.toml's `main` is the rooms example, which serves the
// same app on every path but its rooms.
import { afterAll, beforeAll, expect, test } from "vitest";
import { readEvents } from "../../src/client/index.ts";
import { SCRIPT_BODY } from "../conformance/conformance.ts";
import { nodeBinary, ROOT, type ServerProcess, startServer } from "./launch.ts";

let server: ServerProcess | undefined;
beforeAll(async () => {
  // wrangler 4 needs Node >= 22.
  server = await startServer("wrangler dev", nodeBinary(22), [
    `${ROOT}/node_modules/wrangler/bin/wrangler.js`,
    "dev",
    "--ip",
    "127.0.0.1",
    "--port",
    "0",
    "--show-interactive-dev-session=false",
  ]);
});
afterAll(async () => {
  await server?.stop();
});

test("wrangler dev serves examples/cloudflare with wrangler.toml: the script arrives as on Node", async () => {
  const response = await fetch(new URL("/script", server!.url));
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toBe("text/event-stream");
  expect(await response.text()).toBe(SCRIPT_BODY);
  const stats = await (await fetch(new URL("/stats", server!.url))).json();
  expect(stats).toMatchObject({ open: 0, closes: { server: 1 } });
});

test("wrangler dev serves the rooms of examples/cloudflare-rooms: a broadcast reaches the room's stream", async () => {
  const room = `wrangler-${process.pid}`;
  const controller = new AbortController();
  const stream = await fetch(new URL(`/rooms/${room}/events`, server!.url), {
    signal: controller.signal,
  });
  expect(stream.status).toBe(200);
  const posted = await fetch(new URL(`/rooms/${room}?type=chat`, server!.url), {
    method: "POST",
    body: "hello",
  });
  const { id } = (await posted.json()) as { id: string };
  expect(id).toMatch(/^[A-Za-z0-9_-]+:1$/);
  const events = readEvents(stream);
  const first = await events.next();
  expect(first.value).toMatchObject({ type: "chat", data: "hello", id });
  controller.abort();
});
