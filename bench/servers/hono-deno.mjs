// Hono streamSSE on Deno.serve.
import { announce } from "../shared.mjs";
import { app } from "./hono-app.mjs";

Deno.serve(
  {
    port: Number(Deno.env.get("PORT") ?? 0),
    hostname: "127.0.0.1",
    onListen: ({ port }) => announce(port),
  },
  app.fetch,
);
