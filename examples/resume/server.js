/**
 * A chat room whose clients never miss a message, even across reconnects.
 *
 *   npm run build && node examples/resume/server.js
 *
 * Open the printed URL in two tabs and chat. `POST /drop` ends every stream from the server
 * (`curl -X POST http://127.0.0.1:8000/drop`): each browser reconnects with `Last-Event-ID` and is
 * sent exactly what it missed, then goes live again. Restart the server and the browsers get a
 * `stale` event (the new process has a new epoch), which the page answers by reloading.
 *
 * `PORT` sets the port (default 8000; `0` picks a free one). Prints `listening on <url>`.
 *
 * @module
 */
import { Channel, MemoryEventStore, sendEvents } from "sendevents";
import { serve } from "sendevents/node";

// The last 500 messages of up to 5 minutes ago, at most 1 MiB: what a reconnecting client can get back.
const room = new Channel("room", {
  store: new MemoryEventStore({ maxEvents: 500, maxBytes: 1024 * 1024, maxAge: 5 * 60_000 }),
});
// A clock, so that messages keep coming while a client is away.
/** The open streams, so that `/drop` can end them. */
const streams = new Set();
const clock = setInterval(
  () => void room.broadcast(new Date().toISOString(), { type: "tick" }),
  1000,
);

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>sendevents: resume</title>
<form><input name="text" autocomplete="off" placeholder="Say something"><button>Send</button></form>
<p id="tick"></p><ol id="log"></ol>
<script>
  const source = new EventSource("/events");
  source.addEventListener("chat", (event) => {
    const item = document.createElement("li");
    item.textContent = event.data + "  (id " + event.lastEventId + ")";
    document.getElementById("log").append(item);
  });
  source.addEventListener("tick", (event) => (document.getElementById("tick").textContent = event.data));
  // What this client missed is gone (or the server restarted): start again from a fresh state.
  source.addEventListener("stale", () => location.reload());
  document.querySelector("form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = event.target.elements.text;
    fetch("/messages", { method: "POST", body: input.value });
    input.value = "";
  });
</script>`;

const server = await serve(
  async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/events") {
      const { response, target } = sendEvents(request);
      // Replays what the client missed after its Last-Event-ID, then sends live messages.
      void room.register(target);
      streams.add(target);
      target.addEventListener("close", () => streams.delete(target));
      return response;
    }
    if (pathname === "/messages" && request.method === "POST") {
      const text = (await request.text()).slice(0, 500);
      const event = await room.broadcast(text, { type: "chat" });
      return Response.json({ id: event.id });
    }
    if (pathname === "/drop" && request.method === "POST") {
      // Ends every stream, as a proxy timeout or a deploy would: the clients resume by themselves.
      const dropped = streams.size;
      for (const target of streams) void target.close();
      return Response.json({ dropped });
    }
    if (pathname === "/") {
      return new Response(PAGE, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    return new Response("Not found", { status: 404 });
  },
  { port: Number(process.env.PORT ?? 8000), hostname: "127.0.0.1" },
);
console.log(`listening on ${server.url}`);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    clearInterval(clock);
    server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
