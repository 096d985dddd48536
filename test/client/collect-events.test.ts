import { describe, expect, test } from "vitest";
import { collectEvents } from "../../src/client/index.ts";
import { ServerSentEvent, sendEvents } from "../../src/index.ts";
import type { StreamCloseEvent } from "../../src/stream-close-event.ts";

interface Ticks {
  tick: number;
}

/** An app's handler under test: a tick every 5 ms until the client leaves. */
function ticker(request: Request): { response: Response; closed: Promise<string> } {
  const { response, target } = sendEvents<Ticks>(request);
  let n = 0;
  const timer = setInterval(() => target.dispatchEvent(new ServerSentEvent("tick", ++n)), 5);
  const closed = new Promise<string>((resolve) =>
    target.addEventListener("close", (event: StreamCloseEvent) => {
      clearInterval(timer);
      resolve(event.reason);
    }),
  );
  return { response, closed };
}

describe("collectEvents", () => {
  test("collectEvents reads a handler's whole stream in one line", async () => {
    const { response, target } = sendEvents(new Request("http://localhost/"));
    target.dispatchMessage("hello", { id: 1 });
    target.dispatchEvent(new ServerSentEvent("bye", { at: 1 }));
    void target.close();
    expect(await collectEvents(response)).toEqual([
      { type: "message", data: "hello", id: "1", lastEventId: "1", retry: undefined },
      { type: "bye", data: '{"at":1}', id: undefined, lastEventId: "1", retry: undefined },
    ]);
  });

  test("collectEvents stops after count events, with data parsed, and the handler sees the client leave", async () => {
    const { response, closed } = ticker(new Request("http://localhost/"));
    const events = await collectEvents<Ticks>(response, { count: 3, parse: { tick: "json" } });
    expect(events.map((event) => event.data)).toEqual([1, 2, 3]);
    expect(await closed).toBe("client");
  });

  test("collectEvents stops after the event until accepts", async () => {
    const { response, closed } = ticker(new Request("http://localhost/"));
    const events = await collectEvents<Ticks>(response, {
      parse: { tick: "json" },
      until: (event) => event.data === 4,
    });
    expect(events.map((event) => event.data)).toEqual([1, 2, 3, 4]);
    expect(await closed).toBe("client");
  });

  test("collectEvents returns what came before the timeout", async () => {
    const { response, target } = sendEvents(new Request("http://localhost/"));
    target.dispatchMessage("only");
    expect(await collectEvents(response, { timeout: 50, count: 2 })).toMatchObject([
      { data: "only" },
    ]);
    expect(target.closed).toBe(true);
  });

  test("collectEvents rejects bad options with a RangeError or TypeError naming them", async () => {
    const response = () => new Response("");
    await expect(collectEvents(response(), { count: -1 })).rejects.toThrow(
      new RangeError('Cannot collect events: "count" must be a non-negative integer, received -1'),
    );
    await expect(collectEvents(response(), { timeout: 1.5 })).rejects.toThrow(RangeError);
    // A timer's longest delay: past it, setTimeout would fire after 1 ms.
    await expect(collectEvents(response(), { timeout: 2 ** 31 })).rejects.toThrow(
      /"timeout" must be an integer from 0 to 2147483647/,
    );
    // @ts-expect-error: until is a function
    await expect(collectEvents(response(), { until: 3 })).rejects.toThrow(TypeError);
  });
});
