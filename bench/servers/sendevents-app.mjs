// sendevents as a fetch handler, the same on every runtime. The files beside it serve it.
import { ServerSentEvent, sendEvents } from "../../dist/src/index.js";
import { collect, now, pathOf, payload, query, stats } from "../shared.mjs";

const subscribers = new Set();

export function handler(request) {
  const path = pathOf(request.url);
  if (path === "/throughput") {
    const n = query(request.url, "n", 1000);
    const { response, target } = sendEvents(request);
    void (async () => {
      for (let i = 0; i < n && !target.closed; i++) {
        await target.ready;
        target.dispatchMessage(payload(i));
      }
      await target.close();
    })();
    return response;
  }
  if (path === "/subscribe") {
    const { response, target } = sendEvents(request);
    target.dispatchMessage("ready");
    subscribers.add(target);
    target.addEventListener("close", () => subscribers.delete(target));
    return response;
  }
  if (path === "/broadcast") {
    const m = query(request.url, "m", 10);
    for (let i = 0; i < m; i++) {
      // One event for everyone: encoded once, the same bytes go to every subscriber.
      const event = new ServerSentEvent("message", payload(i, now()));
      for (const target of subscribers) target.dispatchEvent(event);
    }
    return new Response(String(subscribers.size));
  }
  if (path === "/once") {
    const { response, target } = sendEvents(request);
    target.dispatchMessage(payload(0));
    return response;
  }
  if (path === "/stats") return new Response(stats({ subscribers: subscribers.size }));
  if (path === "/gc") {
    collect();
    return new Response("");
  }
  return new Response(null, { status: 404 });
}
