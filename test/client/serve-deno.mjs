// Serves test/client/app.js with Deno.serve on 127.0.0.1 and PORT (0: free).
import app from "./app.js";

Deno.serve(
  {
    port: Number(Deno.env.get("PORT") ?? 0),
    hostname: "127.0.0.1",
    onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/`),
  },
  (request) => app.fetch(request),
);
