// Type-level tests: `npm run typecheck` compiles this file, so every `@ts-expect-error` below must
// really be an error, and every other line must compile.
import { type Env, Hono } from "hono";
import { describe, expect, expectTypeOf, test } from "vitest";
import { events } from "../adapters/hono.ts";
import {
  Channel,
  ServerSentEvent,
  type ServerSentEventTarget,
  type StreamCloseEvent,
  sendEvents,
} from "../src/index.ts";

interface ClockEvents {
  message: { now: number };
  tick: number;
  alert: string;
}

interface ChatEvents {
  message: { text: string };
  typing: string;
}

describe("types", () => {
  test("ServerSentEventTarget checks dispatched events against its event map", async () => {
    const { response, target } = sendEvents<ClockEvents>(new Request("http://localhost/"));
    expectTypeOf(target).toEqualTypeOf<ServerSentEventTarget<ClockEvents>>();
    target.dispatchEvent(new ServerSentEvent("tick", 1));
    target.dispatchEvent(new ServerSentEvent("alert", "fire"));
    target.dispatchMessage({ now: Date.now() });
    // @ts-expect-error: "tick" carries a number, not a string
    target.dispatchEvent(new ServerSentEvent("tick", "one"));
    // @ts-expect-error: "unknown" is not in the event map
    target.dispatchEvent(new ServerSentEvent("unknown", 1));
    // @ts-expect-error: messages carry { now: number }
    target.dispatchMessage("text");
    target.addEventListener("tick", (event) => {
      expectTypeOf(event).toEqualTypeOf<ServerSentEvent<"tick", number>>();
      expectTypeOf(event.data).toEqualTypeOf<string>();
    });
    target.addEventListener("close", (event) => {
      expectTypeOf(event).toEqualTypeOf<StreamCloseEvent>();
      expectTypeOf(event.reason).toEqualTypeOf<"server" | "client" | "overflow" | "error">();
    });
    await response.body!.cancel();
  });

  test("ServerSentEventTarget accepts any event without an event map", async () => {
    const { response, target } = sendEvents(new Request("http://localhost/"));
    target.dispatchEvent(new ServerSentEvent("anything", { a: 1 }));
    target.dispatchMessage(42);
    expectTypeOf(target.ready).toEqualTypeOf<Promise<void>>();
    expectTypeOf(target.bufferedAmount).toEqualTypeOf<number>();
    expectTypeOf(target.lastEventId).toEqualTypeOf<string>();
    expectTypeOf(target.signal).toEqualTypeOf<AbortSignal>();
    expectTypeOf(target.close()).toEqualTypeOf<Promise<void>>();
    expect(() => {
      // @ts-expect-error: targets come from sendEvents() only
      new (target.constructor as typeof ServerSentEventTarget)();
    }).toThrow(TypeError);
    await response.body!.cancel();
  });

  test("Channel checks broadcasts against its event map", async () => {
    const chat = new Channel<ChatEvents>("chat");
    expectTypeOf(await chat.broadcast({ text: "hi" })).toEqualTypeOf<
      ServerSentEvent<"message", { text: string }>
    >();
    await chat.broadcast("ada", { type: "typing" });
    await chat.broadcast(new ServerSentEvent("typing", "ada"));
    // @ts-expect-error: "chta" is not in the event map
    await chat.broadcast("ada", { type: "chta" }).catch(() => {});
    // @ts-expect-error: "typing" carries a string
    await chat.broadcast(1, { type: "typing" });
    // @ts-expect-error: messages carry { text: string }
    await chat.broadcast("hi");
    // @ts-expect-error: "typing" carries a string
    await chat.broadcast(new ServerSentEvent("typing", 1));
    const untyped = new Channel("untyped");
    expectTypeOf(await untyped.broadcast(1, { type: "anything" })).toEqualTypeOf<ServerSentEvent>();
  });

  test("Channel registers only targets whose event map takes its events", async () => {
    const chat = new Channel<ChatEvents>("chat");
    const untyped = new Channel("untyped");
    const request = new Request("http://localhost/");
    const same = sendEvents<ChatEvents>(request);
    const wider = sendEvents<ChatEvents & { tick: number }>(request);
    const any = sendEvents(request);
    const missing = sendEvents<{ typing: string }>(request);
    const other = sendEvents<{ message: { text: string }; typing: number }>(request);
    await chat.register(same.target);
    await chat.register(wider.target);
    await chat.register(any.target);
    await untyped.register(same.target);
    // @ts-expect-error: the target has no "message" events
    await chat.register(missing.target);
    // @ts-expect-error: the target's "typing" carries a number
    await chat.register(other.target);
    for (const stream of [same, wider, any, missing, other]) await stream.response.body!.cancel();
  });

  test("ServerSentEventTarget.pipeFrom checks event and map against the event map", async () => {
    async function* names() {
      yield "ada";
    }
    const { response, target } = sendEvents<ChatEvents>(new Request("http://localhost/"));
    const signal = AbortSignal.abort();
    await target.pipeFrom(names(), { event: "typing", signal });
    await target.pipeFrom(names(), { event: () => "typing", signal });
    await target.pipeFrom(names(), { map: (name) => new ServerSentEvent("typing", name), signal });
    // @ts-expect-error: "tokn" is not in the event map
    await target.pipeFrom(names(), { event: "tokn", signal });
    // @ts-expect-error: messages carry { text: string }, not the strings this source yields
    await target.pipeFrom(names(), { event: "message", signal });
    // @ts-expect-error: "tokn" is not in the event map
    await target.pipeFrom(names(), { event: () => "tokn", signal });
    // @ts-expect-error: "tokn" is not in the event map
    await target.pipeFrom(names(), { map: (name) => new ServerSentEvent("tokn", name), signal });
    const untyped = sendEvents(new Request("http://localhost/"));
    await untyped.target.pipeFrom(names(), { event: "anything", signal });
    await response.body!.cancel();
    await untyped.response.body!.cancel();
  });

  test("events() types route parameters given explicit type arguments", () => {
    const app = new Hono();
    app.get(
      "/rooms/:room",
      events<ChatEvents, "/rooms/:room", Env>((c, target) => {
        expectTypeOf(c.req.param("room")).toEqualTypeOf<string>();
        target.dispatchEvent(new ServerSentEvent("typing", c.req.param("room")));
        // @ts-expect-error: "typing" carries a string
        target.dispatchEvent(new ServerSentEvent("typing", 1));
      }),
    );
  });
});
