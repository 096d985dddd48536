// Serves a bundled app (path in the first argument) with @hono/node-server on a free port.
import { serve } from "@hono/node-server";

const { default: app } = await import(process.argv[2]);
serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, ({ port }) =>
  console.log(`listening on http://127.0.0.1:${port}/`),
);
