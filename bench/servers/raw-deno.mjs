// The hand-tuned raw fetch handler on Deno.serve: the ceiling beside sendevents (Deno).
import { announce } from "../shared.mjs";
import { handler } from "./raw-fetch-app.mjs";

Deno.serve(
  {
    port: Number(Deno.env.get("PORT") ?? 0),
    hostname: "127.0.0.1",
    onListen: ({ port }) => announce(port),
  },
  handler,
);
