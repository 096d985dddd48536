// Type-level tests: `npm run typecheck` compiles this file, so every `@ts-expect-error` below must
// really be an error, and every other line must compile. The event map is written once and used
// on both ends, as an app would share it between its server and its client.
import { describe, expect, expectTypeOf, test } from "vitest";
import {
  type ConnectionErrorEvent,
  collectEvents,
  connect,
  type DataEvent,
  type ReceivedEvent,
  readEvents,
  type StaleData,
} from "../../src/client/index.ts";
import { ServerSentEvent, sendEvents } from "../../src/index.ts";

/** The app's event map: what the server sends, what the client reads. */
interface RoomEvents {
  chat: { from: string; text: string };
  presence: number;
  token: string;
}

/** The same app after a server change: `chat` renamed a field, `presence` became a string. */
interface RoomEventsV2 {
  chat: { from: string; body: string };
  presence: string;
  token: string;
}

const PARSE = { chat: "json", presence: "json" } as const;
const noFetch = () => new Promise<Response>(() => {});

describe("client types", () => {
  test("the server's event map types each event's data on the client", async () => {
    const { response, target } = sendEvents<RoomEvents>(new Request("http://localhost/"));
    target.dispatchEvent(new ServerSentEvent("chat", { from: "ada", text: "hi" }));
    target.dispatchEvent(new ServerSentEvent("presence", 2));
    target.dispatchEvent(new ServerSentEvent("token", " word"));
    void target.close();
    const seen: unknown[] = [];
    for await (const event of readEvents<RoomEvents>(response, { parse: PARSE })) {
      if (event.type === "chat") {
        expectTypeOf(event.data).toEqualTypeOf<{ from: string; text: string }>();
        seen.push(event.data.text);
      } else if (event.type === "presence") {
        expectTypeOf(event.data).toEqualTypeOf<number>();
        seen.push(event.data + 1);
      } else {
        expectTypeOf(event).toEqualTypeOf<ReceivedEvent<"token", string>>();
        seen.push(event.data.trim());
      }
    }
    expect(seen).toEqual(["hi", 3, "word"]);
  });

  test("an event map with data that is not a string requires parse entries for exactly those types", () => {
    const response = () => new Response("");
    // @ts-expect-error: "chat" and "presence" are JSON: the options are required
    readEvents<RoomEvents>(response());
    // @ts-expect-error: "presence" is missing
    readEvents<RoomEvents>(response(), { parse: { chat: "json" } });
    // @ts-expect-error: "token" is a string: there is no JSON to parse
    readEvents<RoomEvents>(response(), { parse: { ...PARSE, token: "json" } });
    // A function may stand in for "json", and a string type may have one too.
    readEvents<RoomEvents>(response(), {
      parse: { chat: (text) => JSON.parse(text), presence: Number, token: (text) => text.trim() },
    });
    // @ts-expect-error: the function must give the type's data
    readEvents<RoomEvents>(response(), { parse: { chat: "json", presence: (text) => text } });
    // Without a map, everything is text, and no option is needed.
    expectTypeOf(readEvents(response())).toEqualTypeOf<
      AsyncIterableIterator<ReceivedEvent<string, string>, undefined, undefined>
    >();
  });

  test("a server change that breaks the client fails to type-check", () => {
    // The client, written for RoomEvents, compiled against the changed map.
    const connection = connect<RoomEventsV2>("http://localhost/room", {
      // @ts-expect-error: presence is a string now, so "json" no longer fits
      parse: PARSE,
      fetch: noFetch,
    });
    connection.addEventListener("chat", (event) => {
      // @ts-expect-error: chat has no "text" any more
      console.log(event.data.text);
    });
    connection.addEventListener("presence", (event) => {
      // @ts-expect-error: presence is a string now
      const count: number = event.data;
      console.log(count);
    });
    connection.close();
  });

  test("connect types listeners like EventSource's, and its own open, error and stale events", async () => {
    const connection = connect<RoomEvents>("http://localhost/room", {
      parse: PARSE,
      fetch: noFetch,
    });
    connection.addEventListener("chat", (event) => {
      expectTypeOf(event).toEqualTypeOf<DataEvent<{ from: string; text: string }>>();
      expectTypeOf(event.lastEventId).toEqualTypeOf<string>();
    });
    connection.addEventListener("presence", (event) => {
      expectTypeOf(event.data).toEqualTypeOf<number>();
    });
    connection.addEventListener("open", (event) => expectTypeOf(event).toEqualTypeOf<Event>());
    connection.addEventListener("error", (event) => {
      expectTypeOf(event).toEqualTypeOf<ConnectionErrorEvent>();
      expectTypeOf(event.retryIn).toEqualTypeOf<number | undefined>();
    });
    connection.addEventListener("stale", (event) => {
      expectTypeOf(event.data).toEqualTypeOf<StaleData>();
      expectTypeOf(event.data.reason).toEqualTypeOf<"expired" | "unknown">();
    });
    // @ts-expect-error: not a type of the map
    connection.addEventListener("typo", () => {});
    connection.onerror = (event) => expectTypeOf(event).toEqualTypeOf<ConnectionErrorEvent>();
    const text = connect("http://localhost/", { fetch: noFetch });
    text.onmessage = (event) => expectTypeOf(event.data).toEqualTypeOf<string>();
    text.close();
    const loop = connection[Symbol.asyncIterator]();
    connection.close();
    for await (const event of { [Symbol.asyncIterator]: () => loop }) {
      if (event.type === "stale") expectTypeOf(event.data).toEqualTypeOf<StaleData>();
      if (event.type === "chat") expectTypeOf(event.data.text).toEqualTypeOf<string>();
    }
    expectTypeOf(connection.closed).resolves.toHaveProperty("reason");
  });

  test("collectEvents takes the same map and options", async () => {
    const { response, target } = sendEvents<RoomEvents>(new Request("http://localhost/"));
    target.dispatchEvent(new ServerSentEvent("presence", 3));
    void target.close();
    const events = await collectEvents<RoomEvents>(response, { parse: PARSE, count: 1 });
    expectTypeOf(events[0]!.data).toEqualTypeOf<{ from: string; text: string } | number | string>();
    expect(events[0]?.data).toBe(3);
    // @ts-expect-error: the parse entries are required here too
    await collectEvents<RoomEvents>(new Response(""), { count: 1 }).catch(() => {});
  });
});
