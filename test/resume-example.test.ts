/**
 * `examples/resume/server.js`, run the way its comment says (`node examples/resume/server.js`,
 * after `npm run build`), in its own process.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parse } from "./helpers/stream.ts";
import { type ServerProcess, startServer } from "./runtimes/launch.ts";

let server: ServerProcess;
beforeAll(async () => {
  server = await startServer("examples/resume", process.execPath, ["examples/resume/server.js"]);
});
afterAll(async () => {
  await server?.stop();
});

async function post(path: string, body?: string): Promise<unknown> {
  const response = await fetch(new URL(path, server.url), { method: "POST", body: body ?? null });
  return await response.json();
}

/** Opens the stream with a Last-Event-ID and reads until `done` holds for the text so far. */
async function stream(lastEventId: string, done: (text: string) => boolean) {
  const response = await fetch(new URL("/events", server.url), {
    headers: { "Last-Event-ID": lastEventId },
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!done(text)) {
    const { done: ended, value } = await reader.read();
    if (ended) break;
    text += decoder.decode(value, { stream: true });
  }
  await reader.cancel();
  return parse(text).events;
}

describe("examples/resume/server.js", () => {
  test("examples/resume replays the chat messages after Last-Event-ID, and only those", async () => {
    const first = (await post("/messages", "hello")) as { id: string };
    const second = (await post("/messages", "world")) as { id: string };
    expect(first.id).toMatch(/^[a-z0-9]+:\d+$/);
    const events = await stream(first.id, (text) => text.includes("data: world"));
    const chat = events.filter((event) => event.event === "chat");
    expect(chat.map((event) => [event.id, event.data])).toEqual([[second.id, "world"]]);
  });

  test("examples/resume answers an id of another epoch with the stale event", async () => {
    const events = await stream("not-this-server:1", (text) => text.includes("event: stale"));
    expect(events.find((event) => event.event === "stale")?.data).toBe('{"reason":"unknown"}');
  });

  test("examples/resume ends every open stream on POST /drop", async () => {
    const response = await fetch(new URL("/events", server.url));
    const reader = response.body!.getReader();
    await reader.read(); // the stream is open: its first bytes arrived
    const { dropped } = (await post("/drop")) as { dropped: number };
    expect(dropped).toBeGreaterThanOrEqual(1);
    // The server ends the stream cleanly: the reader sees its end, not an error.
    for (;;) if ((await reader.read()).done) break;
  });
});
