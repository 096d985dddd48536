// The Hono example's own route (a chat room, examples/hono/app.js) on Node 20, served by
// examples/hono/node.js through the launcher; the rest of the example is covered by the
// conformance cases of the runtime matrix's Hono targets (test/runtimes/hono-*.test.ts).
import { EventSource } from "eventsource";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type LaunchedServer, launch } from "../runtimes/launch.ts";

describe("examples/hono on node20", () => {
  let server: LaunchedServer | undefined;
  const sources: EventSource[] = [];
  beforeAll(async () => {
    server = await launch("node20", "examples/hono/node.js");
  });
  afterAll(async () => {
    for (const source of sources) source.close();
    await server?.stop();
  });

  function join(room: string): Promise<{ source: EventSource; said: string[] }> {
    const source = new EventSource(new URL(`/rooms/${room}`, server!.url).href);
    sources.push(source);
    const said: string[] = [];
    source.addEventListener("said", (event) => said.push(`${event.data}#${event.lastEventId}`));
    return new Promise((resolve, reject) => {
      source.addEventListener("joined", () => resolve({ source, said }), { once: true });
      source.onerror = () => reject(new Error(`Could not join ${room}`));
    });
  }
  async function say(room: string, text: string): Promise<number> {
    const response = await fetch(new URL(`/rooms/${room}`, server!.url), {
      method: "POST",
      body: text,
    });
    return ((await response.json()) as { sent: number }).sent;
  }

  test("node20: everyone in a room gets each message, and a listener who left is dropped", async () => {
    const ada = await join("kitchen");
    const bob = await join("kitchen");
    const elsewhere = await join("garden");
    expect(await say("kitchen", "hello")).toBe(2);
    await expect.poll(() => [ada.said, bob.said]).toEqual([["hello#1"], ["hello#1"]]);
    expect(elsewhere.said).toEqual([]);
    bob.source.close();
    await expect.poll(() => say("kitchen", "still there?"), { timeout: 5_000 }).toBe(1);
  });
});
