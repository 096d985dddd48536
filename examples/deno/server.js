/**
 * The example app on Deno. `Deno.serve` needs no adapter: it aborts `request.signal` when the
 * client leaves, which fires `close` on the stream's target.
 *
 *   npm run build && deno run --allow-net --allow-env=PORT examples/deno/server.js
 *
 * Deno resolves `sendevents` through the package's own package.json ("exports"), like Node.
 * `PORT` sets the port (default 8000; `0` picks a free one). Prints `listening on <url>`.
 *
 * @module
 */
import app from "../shared/app.js";

Deno.serve(
  {
    port: Number(Deno.env.get("PORT") ?? 8000),
    hostname: "127.0.0.1",
    onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/`),
  },
  (request) => app.fetch(request),
);
