/**
 * The Hono example app on Bun:
 *
 *   npm run build && bun examples/hono/bun.js
 *
 * `PORT` sets the port (default 8000; `0` picks a free one). Prints `listening on <url>`.
 *
 * @module
 */
import app from "./app.js";

const server = Bun.serve({
  port: Number(process.env.PORT ?? 8000),
  hostname: "127.0.0.1",
  fetch: app.fetch,
});
console.log(`listening on http://${server.hostname}:${server.port}/`);
