// What an idle event stream costs the Node adapter beyond what Node itself costs: the heap a server
// process holds per open connection (the slope between two counts, so fixed costs drop out), for
// the adapter and for a hand-written node:http server that keeps each response in a set, measured
// side by side. It measured +1,725 bytes while Node's joined response head was kept as a tree of
// its parts (see `keepHead`), +800 to +1,010 once it was flat, and +665 to +716 since the
// stream's wheel link, its exchange and its request state are one object each fewer, and +255 to
// +525 since streams opened in the same second share one head. Of that, some 370 bytes are the
// two maps Node's own EventTarget makes for every target.
import { type ChildProcess, fork } from "node:child_process";
import { connect, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, expect, test } from "vitest";
import { ensureBuilt } from "./soak/harness.ts";

const script = fileURLToPath(new URL("./node-idle-memory.mjs", import.meta.url));
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});
beforeAll(ensureBuilt, 120_000);

/** A server of `kind` with idle event streams: `open(count)` opens more, `ask` asks it. */
async function idleServer(kind: "adapter" | "raw") {
  const child: ChildProcess = fork(script, [kind], { execArgv: ["--expose-gc"] });
  const sockets: Socket[] = [];
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    child.kill();
  });
  const ask = <T>(message: string): Promise<T> =>
    new Promise((resolve) => {
      child.once("message", (reply) => resolve(reply as T));
      child.send(message);
    });
  const { port } = await new Promise<{ port: number }>((resolve) =>
    child.once("message", (message) => resolve(message as { port: number })),
  );
  /** Opens `count` idle streams at `path`; resolves with their sockets once each has its event. */
  const openIdle = async (count: number, path = "/"): Promise<Socket[]> => {
    const opened: Socket[] = [];
    await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<void>((resolve, reject) => {
            const socket = connect(port, "127.0.0.1");
            socket.setEncoding("latin1");
            let text = "";
            socket.on("data", (chunk: string) => {
              text += chunk;
              if (text.includes("data: ready")) resolve();
            });
            socket.on("error", reject);
            socket.write(
              `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n`,
            );
            sockets.push(socket);
            opened.push(socket);
          }),
      ),
    );
    return opened;
  };
  return { ask, openIdle };
}

/** Heap bytes per idle connection held by a server of `kind`. */
async function perConnection(kind: "adapter" | "raw"): Promise<number> {
  const { ask, openIdle } = await idleServer(kind);
  // Each reading is past the first keep-alive tick (a quarter of the 5 s interval), when a stream
  // settles.
  await openIdle(100);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const { held: first } = await ask<{ held: number }>("held");
  await openIdle(1000);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const { held: second } = await ask<{ held: number }>("held");
  return (second - first) / 1000;
}

test("an idle event stream on the Node adapter holds at most 1,100 bytes of heap more than a hand-written node:http stream", async () => {
  const raw = await perConnection("raw");
  const adapter = await perConnection("adapter");
  console.log(
    `idle stream, heap per connection: hand-written ${Math.round(raw)} B, Node adapter ${Math.round(adapter)} B (+${Math.round(adapter - raw)})`,
  );
  expect(raw).toBeGreaterThan(1000); // the measure measures something
  expect(adapter - raw).toBeLessThanOrEqual(1100);
}, 60_000);

test("idle event streams opened together on the Node adapter share one response head", async () => {
  // Node keeps each HTTP/1 response's head as a string for the response's life; heads with the
  // same bytes (the same second's Date) are one string, where each would hold some 250 bytes.
  const { ask, openIdle } = await idleServer("adapter");
  await openIdle(200);
  const { heads } = await ask<{ heads: { count: number } }>("heads");
  // One for each second the 200 connections took to open, and the last head kept for the next.
  expect(heads.count).toBeGreaterThanOrEqual(1);
  expect(heads.count).toBeLessThanOrEqual(4);
}, 60_000);

test("a huge response head on the Node adapter is not kept for sharing past its response", async () => {
  const { ask, openIdle } = await idleServer("adapter");
  await openIdle(1);
  const big = await openIdle(1, "/big");
  for (const socket of big) socket.destroy();
  // The big stream's response has closed: nothing may hold its 100 KB head.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const { heads } = await ask<{ heads: { count: number; longest: number } }>("heads");
  expect(heads.count).toBeGreaterThanOrEqual(1); // the heads are found
  expect(heads.longest).toBeLessThan(10_000);
}, 60_000);
