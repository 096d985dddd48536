/**
 * A Node.js server ready for production: streams that end before a platform cuts them
 * (`maxDuration`), a graceful shutdown on SIGTERM (a final `retry:` with jitter, then a clean end
 * of every stream), a stuck-client timeout, and the counters on `/metrics`.
 *
 *   npm run build && node examples/node/shutdown.js
 *
 * `PORT` sets the port (default 8000; `0` picks a free one). Prints `listening on <url>`, and on
 * SIGTERM or SIGINT prints `shut down: <closed> closed, <aborted> aborted` and exits.
 *
 * @module
 */
import { metrics, sendEvents } from "sendevents";
import { serve } from "sendevents/node";

const server = await serve(
  (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/metrics") return Response.json(metrics);
    if (pathname !== "/clock") return new Response("Try /clock or /metrics", { status: 404 });
    const { response, target } = sendEvents(request, {
      // End each stream after 4 minutes, before a 300 s platform limit (Vercel) cuts it: the
      // client reconnects at once with its Last-Event-ID.
      maxDuration: 240_000,
    });
    let tick = Number(target.lastEventId) || 0;
    const timer = setInterval(() => {
      tick++;
      target.dispatchMessage(new Date().toISOString(), { id: tick });
    }, 1000);
    target.addEventListener("close", () => clearInterval(timer));
    return response;
  },
  {
    port: Number(process.env.PORT ?? 8000),
    // A client that takes no byte for 5 s while events wait is gone: close its stream.
    sendTimeout: 5000,
  },
);
console.log(`listening on ${server.url}`);

for (const signal of ["SIGTERM", "SIGINT"]) {
  process.once(signal, async () => {
    // Clients come back 1 to 6 s from now, spread out; streams still open after 10 s are cut.
    const { closed, aborted } = await server.shutdown({
      retry: 1000,
      jitter: 5000,
      deadline: 10_000,
    });
    console.log(`shut down: ${closed} closed, ${aborted} aborted`);
    process.exit(0);
  });
}
