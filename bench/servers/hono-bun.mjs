// Hono streamSSE on Bun.serve.
import { announce } from "../shared.mjs";
import { app } from "./hono-app.mjs";

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  idleTimeout: 0,
  fetch: app.fetch,
});
announce(server.port);
