// A consumer of the packed package, type-checked with skipLibCheck: false in every setup of
// test/package-types.test.ts. The @ts-expect-error lines prove the types are real, not `any`.
import {
  acceptsEventStream,
  Channel,
  MemoryEventStore,
  metrics,
  readLastEventId,
  ServerSentEvent,
  type ServerSentEventTarget,
  StreamGroup,
  sendEvents,
} from "sendevents";
import { collectEvents, connect, readEvents } from "sendevents/client";
import { events, serverSentEvents } from "sendevents/hono";

interface Events {
  chat: { text: string };
  message: string;
}

export function handler(request: Request): Response {
  if (!acceptsEventStream(request)) return new Response(null, { status: 406 });
  const { response, target } = sendEvents<Events>(request, {
    headers: { "x-room": "kitchen" },
    keepAlive: 5000,
  });
  target.dispatchEvent(new ServerSentEvent("chat", { text: "hi" }, { id: 1, cancelable: true }));
  target.dispatchMessage("hello");
  // @ts-expect-error: "chat" carries { text: string }
  target.dispatchEvent(new ServerSentEvent("chat", 42));
  target.addEventListener("chat", (event) => event.preventDefault(), { once: true });
  target.addEventListener("close", (event) => console.log(event.reason, metrics.open));
  void target.pipeFrom(["a", "b"].values() as unknown as AsyncIterable<string>, {
    event: "message",
  });
  // @ts-expect-error: "chat" carries { text: string }, not the strings this source yields
  void target.pipeFrom(["a"].values() as unknown as AsyncIterable<string>, { event: "chat" });
  const last: string = readLastEventId(request.headers) + target.lastEventId;
  void last;
  return response;
}

const room = new Channel("room", { store: new MemoryEventStore({ maxEvents: 10 }) });
export async function join(target: ServerSentEventTarget<Events>): Promise<string | undefined> {
  await room.register(target);
  const sent = await room.broadcast({ text: "hi" }, { type: "chat" });
  new StreamGroup().track(target);
  return sent.id;
}

export async function listen(url: string): Promise<string> {
  const connection = connect<Events>(url, {
    method: "POST",
    headers: { authorization: "Bearer x" },
    parse: { chat: "json" },
  });
  for await (const event of connection) {
    if (event.type === "chat") return event.data.text;
  }
  const events = await collectEvents(handler(new Request(url)), { count: 1 });
  for await (const event of readEvents(new Response(""))) void event;
  return String(events.length);
}

export { events, serverSentEvents };
