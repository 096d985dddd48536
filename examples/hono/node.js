/**
 * The Hono example app on Node.js (18 or later) through `@hono/node-server`:
 *
 *   npm run build && node examples/hono/node.js
 *
 * then open http://127.0.0.1:8000/ (a clock), or two terminals with
 * `curl -N http://127.0.0.1:8000/rooms/kitchen` and
 * `curl -d "hello" http://127.0.0.1:8000/rooms/kitchen`.
 * `PORT` sets the port (default 8000; `0` picks a free one). Prints `listening on <url>`.
 *
 * @module
 */
import { serve } from "@hono/node-server";
import app from "./app.js";

const server = serve(
  { fetch: app.fetch, port: Number(process.env.PORT ?? 8000), hostname: "127.0.0.1" },
  ({ port }) => console.log(`listening on http://127.0.0.1:${port}/`),
);

// Ctrl+C or a kill: stop accepting, end the open connections (each stream fires "close"), exit.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections?.();
  });
}
