// The hand-tuned raw fetch handler on @hono/node-server: the floor of the fetch path on Node (a
// real Request, a ReadableStream body), beside sendevents on the same server.
import { serve } from "@hono/node-server";
import { announce } from "../shared.mjs";
import { handler } from "./raw-fetch-app.mjs";

serve({ fetch: handler, port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" }, (info) =>
  announce(info.port),
);
