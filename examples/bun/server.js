/**
 * The example app on Bun. `Bun.serve` needs no adapter: it aborts `request.signal` when the
 * client leaves, which fires `close` on the stream's target. Bun closes a connection that is
 * silent for `idleTimeout` (10 s by default); the stream's keep-alive comment (every 5 s by
 * default) keeps it open, so the default is left as is.
 *
 *   npm run build && bun examples/bun/server.js
 *
 * `PORT` sets the port (default 8000; `0` picks a free one). Prints `listening on <url>`.
 *
 * @module
 */
import app from "../shared/app.js";

const server = Bun.serve({
  port: Number(process.env.PORT ?? 8000),
  hostname: "127.0.0.1",
  fetch: (request) => app.fetch(request),
});
console.log(`listening on ${server.url}`);
