// The hand-tuned raw fetch handler on Bun.serve: the ceiling beside sendevents (Bun). idleTimeout 0: the bench holds silent connections open.
import { announce } from "../shared.mjs";
import { handler } from "./raw-fetch-app.mjs";

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  fetch: handler,
});
announce(server.port);
