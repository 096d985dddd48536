/**
 * The Hono example app on Deno:
 *
 *   npm run build && deno run --allow-net --allow-env=PORT examples/hono/deno.js
 *
 * `PORT` sets the port (default 8000; `0` picks a free one). Prints `listening on <url>`.
 *
 * @module
 */
import app from "./app.js";

Deno.serve(
  {
    port: Number(Deno.env.get("PORT") ?? 8000),
    hostname: "127.0.0.1",
    onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/`),
  },
  app.fetch,
);
