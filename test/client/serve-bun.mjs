// Serves test/client/app.js with Bun.serve on 127.0.0.1 and PORT (0: free).
import app from "./app.js";

const server = Bun.serve({
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
  fetch: (request) => app.fetch(request),
});
console.log(`listening on ${server.url}`);
