// sendevents on the pure fetch path: the same handler served by @hono/node-server.
import { serve } from "@hono/node-server";
import { announce } from "../shared.mjs";
import { handler } from "./sendevents-app.mjs";

serve({ fetch: handler, port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" }, (info) =>
  announce(info.port),
);
