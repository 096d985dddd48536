// Type-level tests: `npm run typecheck` compiles this file, so every `@ts-expect-error` below must
// really be an error, and every other line must compile.
import { describe, expect, expectTypeOf, test } from "vitest";
import {
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
});
