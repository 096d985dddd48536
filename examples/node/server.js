/**
 * The example app on Node.js (18 or later) through `sendevents/node`.
 *
 *   npm run build && node examples/node/server.js
 *
 * `PORT` sets the port (default 8000; `0` picks a free one). Prints `listening on <url>`.
 *
 * @module
 */
import { serve } from "sendevents/node";
import app from "../shared/app.js";

const server = await serve((request) => app.fetch(request), {
  port: Number(process.env.PORT ?? 8000),
  hostname: "127.0.0.1",
});
console.log(`listening on ${server.url}`);

// Ctrl+C or a kill: stop accepting, end the open streams (each fires "close"), then exit.
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
