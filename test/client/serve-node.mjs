// Serves test/client/app.js on Node through sendevents/node, on 127.0.0.1 and PORT (0: free).
import { serve } from "sendevents/node";
import app from "./app.js";

const server = await serve((request) => app.fetch(request), {
  port: Number(process.env.PORT ?? 0),
  hostname: "127.0.0.1",
});
console.log(`listening on ${server.url}`);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
