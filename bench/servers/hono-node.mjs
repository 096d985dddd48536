import { serve } from "@hono/node-server";
import { announce } from "../shared.mjs";
import { app } from "./hono-app.mjs";

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" }, (info) =>
  announce(info.port),
);
