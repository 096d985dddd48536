// sendevents/cloudflare in real workerd (miniflare 4 under Node 22, test/runtimes/miniflare-server.mjs):
// the rooms of test/cloudflare/worker.ts, a ChannelObject with SQLite history behind
// routeChannel, driven over 127.0.0.1 by real clients (the `eventsource` package and our own
// readEvents). Each test has rooms of its own (a name per test), so they never share a channel.
import { request as httpRequest } from "node:http";
import { join as joinPath } from "node:path";
import { EventSource } from "eventsource";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readEvents } from "../../src/client/index.ts";
import { nodeBinary, ROOT, type ServerProcess, startServer } from "../runtimes/launch.ts";
import { ensureBuilt } from "../soak/harness.ts";

let server: ServerProcess | undefined;

beforeAll(async () => {
  // The worker imports sendevents/cloudflare, the built package.
  await ensureBuilt();
  server = await startServer("cloudflare rooms (miniflare)", nodeBinary(22), [
    joinPath(ROOT, "test", "runtimes", "miniflare-server.mjs"),
    joinPath(ROOT, "test", "cloudflare", "worker.ts"),
    "Room=ROOMS",
    "HistoryRoom=HISTORY",
  ]);
  // The first request compiles the worker: not what the tests measure.
  await (await fetch(new URL("/rpc/warm-up/stats", server.url))).arrayBuffer();
});

afterAll(async () => {
  await server?.stop();
});

let rooms = 0;
/** A room name of this test's own. */
function room(label: string): string {
  return `${label}-${process.pid}-${++rooms}`;
}

function url(path: string): URL {
  if (server === undefined) throw new Error("the server is not running");
  return new URL(path, server.url);
}

interface Received {
  type: string;
  data: string;
  id: string | undefined;
}

/** A stream on a room, read with our own client; `take(n)` waits for the next `n` events. */
interface Member {
  readonly response: Response;
  take(count: number): Promise<Received[]>;
  leave(): void;
}

async function join(
  name: string,
  headers: Record<string, string> = {},
  prefix = "/rooms/",
): Promise<Member> {
  const controller = new AbortController();
  const response = await fetch(url(`${prefix}${encodeURIComponent(name)}/events`), {
    headers: { accept: "text/event-stream", ...headers },
    signal: controller.signal,
  });
  if (response.status !== 200) return { response, take: async () => [], leave: () => {} };
  const events = readEvents(response);
  return {
    response,
    async take(count) {
      const taken: Received[] = [];
      while (taken.length < count) {
        // Bounded, so a missing event fails here rather than at the test's timeout; generous,
        // because a loaded machine (CI, the rest of the suite beside it) can stall workerd.
        let timer: ReturnType<typeof setTimeout> | undefined;
        const next = await Promise.race([
          events.next(),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`no event ${taken.length + 1} of ${count} within 15 s`)),
              15_000,
            );
          }),
        ]).finally(() => clearTimeout(timer));
        if (next.done) throw new Error(`the stream ended after ${taken.length} of ${count}`);
        taken.push({ type: next.value.type, data: next.value.data, id: next.value.id });
      }
      return taken;
    },
    leave: () => controller.abort(),
  };
}

/** Broadcasts through `POST /rooms/:name`; resolves with the stored event's id. */
async function post(name: string, data: string, type = "chat", prefix = "/rooms/") {
  const response = await fetch(url(`${prefix}${encodeURIComponent(name)}?type=${type}`), {
    method: "POST",
    body: data,
  });
  expect(response.status, await response.clone().text()).toBe(200);
  return ((await response.json()) as { id: string }).id as string;
}

/** Calls one of the room object's RPC methods through the test worker's /rpc route. */
/**
 * POSTs `body` on a connection of its own, closed after the answer; resolves with the status. A
 * server that answers before reading the body may reset the connection, which can lose the
 * answer: up to three tries (the request is one the server refuses, so a retry changes nothing).
 */
async function postAlone(target: URL | string, body: string): Promise<number> {
  let failure: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await new Promise<number>((resolve, reject) => {
        const request = httpRequest(
          target,
          { method: "POST", agent: false, headers: { connection: "close" } },
          (response) => {
            resolve(response.statusCode ?? 0);
            response.on("error", () => {});
            response.resume();
          },
        );
        request.on("error", reject);
        request.end(body);
      });
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

async function rpc<T>(name: string, method: string, body?: unknown): Promise<T> {
  const response = await fetch(url(`/rpc/${encodeURIComponent(name)}/${method}`), {
    method: body === undefined ? "GET" : "POST",
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const value = (await response.json()) as T;
  if (response.status !== 200) throw new Error(JSON.stringify(value));
  return value;
}

interface Stats {
  name: string;
  members: number;
  maxMembers: number;
  lastId: string;
  held: number;
}

const stats = (name: string) => rpc<Stats>(name, "stats");

/**
 * Polls the room's stats until `done` holds, up to `attempts` times 50 ms apart (a bound on the
 * wait, not a timing assertion); resolves with the last stats either way.
 */
async function statsUntil(name: string, done: (stats: Stats) => boolean, attempts = 200) {
  let last = await stats(name);
  for (let i = 0; i < attempts && !done(last); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await stats(name);
  }
  return last;
}

const sequence = (id: string | undefined) => Number(id?.split(":")[1]);
const epoch = (id: string | undefined) => id?.split(":")[0];

describe("sendevents/cloudflare: a channel in a Durable Object, in workerd", () => {
  test("clients on one room through separate requests get every broadcast once, in order, from POST and RPC", async () => {
    const name = room("fanout");
    const a = await join(name);
    const b = await join(name);
    // A third client: a real EventSource.
    const source = new EventSource(url(`/rooms/${name}/events`).href);
    const fromSource: Received[] = [];
    const opened = new Promise<void>((resolve, reject) => {
      source.onopen = () => resolve();
      source.onerror = (error) => reject(new Error(`EventSource failed: ${String(error.message)}`));
    });
    const sourceGot = new Promise<void>((resolve) => {
      source.addEventListener("chat", (event) => {
        fromSource.push({ type: "chat", data: event.data, id: event.lastEventId });
        if (fromSource.length === 20) resolve();
      });
    });
    await opened;
    expect((await stats(name)).members).toBe(3);

    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(await post(name, `post ${i}`));
      ids.push(
        await rpc<string>(name, "broadcast", {
          data: { from: "rpc", text: `rpc ${i}` },
          type: "chat",
        }),
      );
    }
    // Ten more at once, from concurrent requests: the store's order is the one everyone gets.
    const concurrent = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        i % 2 === 0
          ? post(name, `burst ${i}`)
          : rpc<string>(name, "broadcast", { data: `burst ${i}`, type: "chat" }),
      ),
    );
    ids.push(...[...concurrent].sort((x, y) => sequence(x) - sequence(y)));

    const expected = ids.map((id) => id);
    const gotA = await a.take(20);
    const gotB = await b.take(20);
    await sourceGot;
    source.close();
    for (const got of [gotA, gotB, fromSource]) {
      expect(got.map((event) => event.id)).toEqual(expected);
    }
    expect(gotA.slice(0, 2).map((event) => event.data)).toEqual([
      "post 0",
      JSON.stringify({ from: "rpc", text: "rpc 0" }),
    ]);
    // Ids are the store's: one epoch, sequences 1 to 20.
    expect(new Set(ids.map(epoch)).size).toBe(1);
    expect(ids.map(sequence)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    a.leave();
    b.leave();
  });

  test("a client that drops resumes after its Last-Event-ID with exactly what it missed, then live", async () => {
    const name = room("resume");
    const first = await join(name);
    await post(name, "one");
    await post(name, "two");
    const seen = await first.take(2);
    first.leave();
    await post(name, "three");
    await post(name, "four");
    const again = await join(name, { "last-event-id": seen[1]!.id! });
    await post(name, "five");
    const resumed = await again.take(3);
    expect(resumed.map((event) => event.data)).toEqual(["three", "four", "five"]);
    expect(resumed.map((event) => sequence(event.id))).toEqual([3, 4, 5]);
    again.leave();
  });

  test("two rooms never see each other's events or history", async () => {
    const x = room("x");
    const y = room("y");
    const inY = await join(y);
    const xId = await post(x, "for x only");
    await post(y, "for y");
    expect((await inY.take(1)).map((event) => event.data)).toEqual(["for y"]);
    inY.leave();
    // X's id means nothing in Y: a stale, not X's history.
    const crossed = await join(y, { "last-event-id": xId });
    const [stale] = await crossed.take(1);
    expect(stale).toMatchObject({ type: "stale", data: '{"reason":"unknown"}' });
    expect(epoch(stale!.id)).not.toBe(epoch(xId));
    crossed.leave();
    // And the name is the whole name: "a/b" is not "a".
    const slash = room("a");
    const inSlash = await join(`${slash}/b`);
    await post(slash, "for a");
    await post(`${slash}/b`, "for a/b");
    expect((await inSlash.take(1))[0]!.data).toBe("for a/b");
    inSlash.leave();
  });

  test("reset() starts a new epoch: old ids get stale, open streams get one stale and carry on", async () => {
    const name = room("reset");
    const live = await join(name);
    const old = await post(name, "before");
    expect((await live.take(1))[0]!.id).toBe(old);
    const fresh = await rpc<string>(name, "reset");
    expect(epoch(fresh)).not.toBe(epoch(old));
    expect(sequence(fresh)).toBe(0);
    const after = await post(name, "after");
    expect(await live.take(2)).toEqual([
      { type: "stale", data: '{"reason":"unknown"}', id: fresh },
      { type: "chat", data: "after", id: after },
    ]);
    live.leave();
    const back = await join(name, { "last-event-id": old });
    expect(await back.take(1)).toEqual([
      { type: "stale", data: '{"reason":"unknown"}', id: after },
    ]);
    back.leave();
  });

  test("storage deleted under the channel (deleteAll): a new epoch, and stale for every old id", async () => {
    const name = room("wipe");
    const live = await join(name);
    const old = await post(name, "before");
    await live.take(1);
    await rpc(name, "wipe");
    const after = await post(name, "after");
    expect(epoch(after)).not.toBe(epoch(old));
    const [stale, event] = await live.take(2);
    expect(stale).toMatchObject({ type: "stale", data: '{"reason":"unknown"}' });
    expect(epoch(stale!.id)).toBe(epoch(after));
    expect(event).toEqual({ type: "chat", data: "after", id: after });
    live.leave();
    const back = await join(name, { "last-event-id": old });
    expect((await back.take(1))[0]).toMatchObject({ type: "stale", id: after });
    back.leave();
  });

  test("an id whose successors were trimmed (5 kept) gets stale expired; the last 5 still resume", async () => {
    const name = room("trim");
    const ids: string[] = [];
    for (let i = 1; i <= 8; i++) ids.push(await post(name, `e${i}`));
    expect((await stats(name)).held).toBe(5);
    const trimmed = await join(name, { "last-event-id": ids[1]! }); // e2: e3 was dropped
    expect(await trimmed.take(1)).toEqual([
      { type: "stale", data: '{"reason":"expired"}', id: ids[7] },
    ]);
    trimmed.leave();
    const edge = await join(name, { "last-event-id": ids[2]! }); // e3: e4..e8 are all held
    expect((await edge.take(5)).map((event) => event.data)).toEqual(["e4", "e5", "e6", "e7", "e8"]);
    edge.leave();
  });

  test("forged, malformed and huge Last-Event-IDs get stale unknown, never a history", async () => {
    const name = room("forged");
    const real = await post(name, "real");
    const forged = [
      `${epoch(real)}:99`, // ahead of the newest
      `${epoch(real)}:-1`,
      `${epoch(real)}:01`,
      `${epoch(real)}:99999999999999999999`,
      "someoneelse:1",
      "1",
      "x".repeat(5000), // longer than any id we send
      `${epoch(real)}:+1`,
      `${epoch(real)}:1.0`,
      `${epoch(real)}:0x1`,
      "é:1",
    ];
    for (const id of forged) {
      const member = await join(name, { "last-event-id": id });
      expect(member.response.status).toBe(200);
      expect(await member.take(1), id.slice(0, 40)).toEqual([
        { type: "stale", data: '{"reason":"unknown"}', id: real },
      ]);
      member.leave();
      // The room holds 4: wait for this one to be released before the next.
      expect((await statsUntil(name, (s) => s.members === 0)).members).toBe(0);
    }
  });

  test("the member cap answers 503 with Retry-After and opens nothing; a freed place can be taken", async () => {
    const name = room("cap");
    const members = await Promise.all(Array.from({ length: 4 }, () => join(name)));
    expect(members.map((member) => member.response.status)).toEqual([200, 200, 200, 200]);
    const refused = await fetch(url(`/rooms/${name}/events`));
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("7");
    expect(refused.headers.get("content-type")).not.toBe("text/event-stream");
    await refused.arrayBuffer();
    expect((await stats(name)).members).toBe(4);
    members[0]!.leave();
    expect((await statsUntil(name, (s) => s.members === 3)).members).toBe(3);
    const next = await join(name);
    expect(next.response.status).toBe(200);
    await post(name, "all here");
    for (const member of [...members.slice(1), next]) {
      expect((await member.take(1))[0]!.data).toBe("all here");
      member.leave();
    }
  });

  test("authorize refuses with 403 or its own 401, and the object never sees the request", async () => {
    const name = room("auth");
    await post(name, "one"); // the object exists and has a history
    const before = await rpc<number>(name, "fetches");
    const lastId = (await stats(name)).lastId;
    const denied = await fetch(url(`/rooms/${name}/events`), {
      headers: { "x-test-auth": "deny" },
    });
    expect(denied.status).toBe(403);
    expect(await denied.text()).toBe("Forbidden\n");
    const anonymous = await fetch(url(`/rooms/${name}/events`), {
      headers: { "x-test-auth": "anonymous", "last-event-id": `${lastId.split(":")[0]}:0` },
    });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe('Bearer realm="rooms"');
    expect(await anonymous.text()).toBe("Sign in\n"); // nothing of the history
    const deniedPost = await fetch(url(`/rooms/${name}?type=chat`), {
      method: "POST",
      body: "sneaky",
      headers: { "x-test-auth": "deny" },
    });
    expect(deniedPost.status).toBe(403);
    await deniedPost.arrayBuffer();
    expect(await rpc<number>(name, "fetches")).toBe(before);
    expect(await stats(name)).toMatchObject({ members: 0, lastId });
  });

  test("a member that leaves is released: on its next write, at the latest its keep-alive", async () => {
    const name = room("leave");
    const idle = await join(name);
    const busy = await join(name);
    const stays = await join(name);
    expect((await stats(name)).members).toBe(3);
    // Idle: nothing is written to it but keep-alive comments (every 300 ms in this room).
    idle.leave();
    expect((await statsUntil(name, (s) => s.members === 2)).members).toBe(2);
    // Busy: the broadcast's write is what notices.
    busy.leave();
    await post(name, "after they left");
    expect((await statsUntil(name, (s) => s.members === 1)).members).toBe(1);
    expect((await stays.take(1))[0]!.data).toBe("after they left");
    stays.leave();
    expect((await statsUntil(name, (s) => s.members === 0)).members).toBe(0);
  });

  test("a client that leaves while broadcasts run, its response never read, is freed by the stall watch", async () => {
    // In local workerd, a response dropped this way between the Worker and the object is
    // neither read nor cancelled: the object's writes never fail. The room ends a stream whose
    // queue goes untaken for its stallTimeout (900 ms here).
    const name = room("stall");
    const stays = await join(name);
    const broadcasts = Array.from({ length: 20 }, (_, i) => post(name, `s${i}`));
    const dropped = await join(name);
    dropped.leave();
    await Promise.all(broadcasts);
    expect((await statsUntil(name, (s) => s.members === 1)).members).toBe(1);
    // The one that stayed, read all along, is not touched, and got everything.
    expect((await stays.take(20)).map((event) => sequence(event.id))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    await post(name, "still here");
    expect((await stays.take(1))[0]!.data).toBe("still here");
    expect((await stats(name)).members).toBe(1);
    stays.leave();
  });

  test("broadcasts concurrent with joins and leaves: every member sees a gapless run, none twice", async () => {
    const name = room("churn");
    const steady = await join(name);
    const broadcasts = Array.from({ length: 30 }, (_, i) => post(name, `n${i}`));
    // Members come and go while the broadcasts run; each that joins mid-way resumes from
    // nothing (live only): whatever it gets must be consecutive ids.
    const joiners: Received[][] = [];
    for (let i = 0; i < 6; i++) {
      const member = await join(name);
      if (member.response.status !== 200) continue; // a full room is fine here
      const got = await Promise.race([
        member.take(2),
        Promise.all(broadcasts).then(() => [] as Received[]),
      ]);
      joiners.push(got);
      member.leave();
    }
    const ids = await Promise.all(broadcasts);
    const all = await steady.take(30);
    expect(all.map((event) => event.id)).toEqual(
      [...ids].sort((a, b) => sequence(a) - sequence(b)),
    );
    for (const got of joiners) {
      const seqs = got.map((event) => sequence(event.id));
      for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe(seqs[i - 1]! + 1);
    }
    steady.leave();
    expect((await statsUntil(name, (s) => s.members === 0)).members).toBe(0);
  });

  test("history: a fresh member gets the last 3 events then live; a resuming one what it missed", async () => {
    const name = room("history");
    const ids: string[] = [];
    for (let i = 1; i <= 10; i++) ids.push(await post(name, `h${i}`, "chat", "/history-rooms/"));
    const fresh = await join(name, {}, "/history-rooms/");
    const live = post(name, "h11", "chat", "/history-rooms/");
    expect((await fresh.take(4)).map((event) => event.data)).toEqual(["h8", "h9", "h10", "h11"]);
    await live;
    fresh.leave();
    const resuming = await join(name, { "last-event-id": ids[4]! }, "/history-rooms/");
    expect((await resuming.take(6)).map((event) => event.data)).toEqual([
      "h6",
      "h7",
      "h8",
      "h9",
      "h10",
      "h11",
    ]);
    resuming.leave();
    const forged = await join(name, { "last-event-id": "x".repeat(5000) }, "/history-rooms/");
    expect((await forged.take(1))[0]).toMatchObject({
      type: "stale",
      data: '{"reason":"unknown"}',
    });
    forged.leave();
  });

  test("hostile names and huge values are refused without harming the room", async () => {
    const name = room("hostile");
    for (const path of [
      "/rooms/%00/events",
      `/rooms/${"n".repeat(257)}/events`,
      "/rooms/%E0%A4%A/events",
      "/rooms/%ED%A0%80/events", // a lone surrogate in UTF-8
    ]) {
      const response = await fetch(url(path));
      expect(response.status, path).toBe(400);
      await response.arrayBuffer();
    }
    const wrongMethod = await fetch(url(`/rooms/${name}/events`), { method: "POST" });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get("allow")).toBe("GET, HEAD");
    await wrongMethod.arrayBuffer();
    const notRoute = await fetch(url(`/rooms/${name}/other`));
    expect(notRoute.status).toBe(404);
    await notRoute.arrayBuffer();
    // An event over maxEventBytes (64 KiB): 413 over HTTP, a RangeError over RPC. The 413 comes
    // before the body is read, so the server may drop that connection: on a connection of its
    // own, or the next `fetch` may reuse the one being closed and fail ("fetch failed", seen once).
    expect(await postAlone(url(`/rooms/${name}?type=chat`), "x".repeat(70_000))).toBe(413);
    await expect(
      rpc(name, "broadcast", { data: "é".repeat(40_000), type: "chat" }),
    ).rejects.toThrow(/RangeError.*maxEventBytes/);
    const badType = await fetch(url(`/rooms/${name}?type=${encodeURIComponent("a\nb")}`), {
      method: "POST",
      body: "x",
    });
    expect(badType.status).toBe(400);
    await badType.arrayBuffer();
    // The room is unharmed: nothing was stored, and it still broadcasts.
    expect((await stats(name)).lastId).toMatch(/:0$/);
    const member = await join(name);
    const id = await post(name, "x".repeat(60_000));
    expect((await member.take(1))[0]).toMatchObject({ id, data: "x".repeat(60_000) });
    member.leave();
  });
});
