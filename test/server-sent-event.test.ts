import { describe, expect, test } from "vitest";
import { events as eventAccess } from "../src/_internal/access.ts";
import { Channel, MemoryEventStore, sendEvents } from "../src/index.ts";
import { ServerSentEvent, type ServerSentEventInit } from "../src/server-sent-event.ts";

const text = (event: ServerSentEvent) => new TextDecoder().decode(eventAccess.frame(event));

describe("ServerSentEvent", () => {
  test("ServerSentEvent is an Event with the type, the wire data, id and retry", () => {
    const event = new ServerSentEvent("ping", { hello: "world" }, { id: 1, retry: 3000 });
    expect(event).toBeInstanceOf(Event);
    expect(event.type).toBe("ping");
    expect(event.data).toBe('{"hello":"world"}');
    expect(event.id).toBe("1");
    expect(event.retry).toBe(3000);
    expect(event.cancelable).toBe(false);
    expect(text(event)).toBe('event: ping\nid: 1\nretry: 3000\ndata: {"hello":"world"}\n\n');
  });

  test("ServerSentEvent sends a string as is and uses replacer and space for the rest", () => {
    expect(new ServerSentEvent("message", "plain").data).toBe("plain");
    const event = new ServerSentEvent("message", { a: 1, b: 2 }, { replacer: ["b"], space: 1 });
    expect(event.data).toBe('{\n "b": 2\n}');
    expect(text(event)).toBe('data: {\ndata:  "b": 2\ndata: }\n\n');
  });

  test("ServerSentEvent keeps id 0 and an empty id", () => {
    expect(new ServerSentEvent("message", "", { id: 0 }).id).toBe("0");
    expect(text(new ServerSentEvent("message", "", { id: "" }))).toBe("id: \ndata: \n\n");
    expect(new ServerSentEvent("message", "").id).toBeUndefined();
  });

  test("ServerSentEvent is cancelable when asked", () => {
    expect(new ServerSentEvent("message", "", { cancelable: true }).cancelable).toBe(true);
  });

  test("ServerSentEvent encodes once and caches the bytes", () => {
    const event = new ServerSentEvent("message", "x");
    expect(eventAccess.frame(event)).toBe(eventAccess.frame(event));
  });

  test("ServerSentEvent throws TypeError for an event type with CR or LF", () => {
    expect(() => new ServerSentEvent("a\nevent: evil", "x")).toThrow(TypeError);
    expect(() => new ServerSentEvent("a\rb", "x")).toThrow(
      /must not contain CR or LF, received "a\\rb"/,
    );
  });

  test("ServerSentEvent throws TypeError for an id with CR, LF or NUL", () => {
    expect(() => new ServerSentEvent("m", "x", { id: "1\ndata: evil" })).toThrow(TypeError);
    expect(() => new ServerSentEvent("m", "x", { id: "1\0" })).toThrow(
      /"id" must not contain CR, LF or NUL/,
    );
  });

  test("ServerSentEvent throws RangeError for a retry that is not a non-negative integer", () => {
    expect(() => new ServerSentEvent("m", "x", { retry: -1 })).toThrow(RangeError);
    expect(() => new ServerSentEvent("m", "x", { retry: 1.5 })).toThrow(/received 1.5/);
    expect(new ServerSentEvent("m", "x", { retry: 0 }).retry).toBe(0);
  });

  test("ServerSentEvent throws TypeError for undefined, cyclic or BigInt data", () => {
    const cyclic: { self?: unknown } = {};
    cyclic.self = cyclic;
    expect(() => new ServerSentEvent("m", undefined)).toThrow(TypeError);
    expect(() => new ServerSentEvent("m", cyclic)).toThrow(
      /Cannot create event "m": data \[object Object\] cannot be serialised/,
    );
    expect(() => new ServerSentEvent("m", 1n)).toThrow(TypeError);
  });
});

describe("ServerSentEvent errors on huge values", () => {
  test("ServerSentEvent names a huge invalid type or id in a short TypeError, never a RangeError from quoting it whole", () => {
    // 90 million lone surrogates: quoted whole for the message, each becomes a 6-character escape,
    // past the longest string V8 can make.
    const huge = `${"\ud800".repeat(90_000_000)}\n`;
    for (const make of [
      () => new ServerSentEvent(huge, "x"),
      () => new ServerSentEvent("m", "x", { id: huge }),
    ]) {
      let error: unknown;
      try {
        make();
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toMatch(/received "\\ud800\\ud800.*\.\.\.$/);
      expect((error as Error).message.length).toBeLessThan(200);
    }
  });
});

describe("huge valid names", () => {
  test("ServerSentEvent and Channel take a huge valid type or name, and name it in short errors", async () => {
    // Valid (no CR or LF), but its quoted form is past the longest string V8 can make.
    const huge = "\ud800".repeat(90_000_000);
    expect(new ServerSentEvent(huge, "x").type).toBe(huge);
    const channel = new Channel(huge);
    expect(channel.name).toBe(huge);
    await expect(channel.broadcast("x")).resolves.toBeInstanceOf(ServerSentEvent);
    let error: unknown;
    try {
      void channel.register({} as never);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message.length).toBeLessThan(200);
  });
});

describe("ServerSentEvent hardening", () => {
  test("ServerSentEvent's validated fields cannot be changed: a forged id never reaches the wire", () => {
    const event = new ServerSentEvent("chat", "hi", { id: "1", retry: 10 });
    const forged = "1\n\nevent: admin\ndata: take over";
    expect(() => {
      (event as unknown as { id: string }).id = forged;
    }).toThrow(TypeError);
    expect(() => {
      (event as unknown as { data: string }).data = "x\n\nevent: admin\ndata: y";
    }).toThrow(TypeError);
    expect(() => {
      (event as unknown as { retry: number }).retry = -1;
    }).toThrow(TypeError);
    expect(Object.defineProperty(event, "id", { value: forged }).id).toBe(forged);
    // Even an own property shadowing the getter changes nothing on the wire.
    expect(text(event)).toBe("event: chat\nid: 1\nretry: 10\ndata: hi\n\n");
  });

  test("ServerSentEvent and Channel.broadcast read each init field once: a getter cannot swap a value past its check", async () => {
    /** An init whose `retry` and `id` answer a valid value to the checks, then an injection. */
    function twoFaced(): ServerSentEventInit {
      let retries = 0;
      let ids = 0;
      return {
        get retry() {
          return ++retries === 1 ? 1000 : ("1000\n\nevent: admin\ndata: forged" as never);
        },
        get id() {
          return ++ids === 1 ? "1" : "1\n\nevent: admin";
        },
      };
    }
    expect(text(new ServerSentEvent("chat", "hi", twoFaced()))).toBe(
      "event: chat\nid: 1\nretry: 1000\ndata: hi\n\n",
    );
    const records: unknown[] = [];
    const store = new MemoryEventStore({ epoch: "g" });
    const channel = new Channel("getters", {
      store: {
        append: (record) => {
          records.push(record.retry);
          return store.append(record);
        },
        read: (after, options) => store.read(after, options),
        trim: () => store.trim(),
        compare: (a, b) => store.compare(a, b),
      },
    });
    let reads = 0;
    const sent = await channel.broadcast("x", {
      get retry() {
        return ++reads === 1 ? 5 : (-5 as never);
      },
    });
    expect(records).toEqual([5]);
    expect(sent.retry).toBe(5);
  });

  test("ServerSentEvent's validated type cannot be swapped: a shadowing type never injects fields", async () => {
    const injected = "chat\ndata: forged\n\nevent: admin";
    const shadowed = new ServerSentEvent("chat", "hi");
    Object.defineProperty(shadowed, "type", { value: injected });
    const subclassed = new ServerSentEvent("chat", "hi");
    // A subclass's accessor, as an own prototype between the instance and ServerSentEvent's.
    Object.setPrototypeOf(
      subclassed,
      Object.create(ServerSentEvent.prototype, { type: { get: () => injected } }),
    );
    expect(text(shadowed)).toBe("event: chat\ndata: hi\n\n");
    expect(text(subclassed)).toBe("event: chat\ndata: hi\n\n");
    // Through a target (raised on listeners of the real type, then sent) and a channel's store.
    const { response, target } = sendEvents(new Request("http://localhost/"), { keepAlive: false });
    const heard: string[] = [];
    target.addEventListener("chat", () => heard.push("chat"));
    const second = new ServerSentEvent("chat", "again");
    Object.defineProperty(second, "type", { value: "other" });
    expect(target.dispatchEvent(second)).toBe(true);
    expect(heard).toEqual(["chat"]);
    const store = new MemoryEventStore({ epoch: "e" });
    const channel = new Channel("c", {
      store: {
        append: (record) => store.append({ ...record, type: record.type }),
        read: (after, options) => store.read(after, options),
        trim: () => store.trim(),
        compare: (a, b) => store.compare(a, b),
      },
    });
    await channel.register(target, { lastEventId: "" });
    const broadcast = new ServerSentEvent("chat", "live");
    Object.defineProperty(broadcast, "type", { value: "chat\nid: 9" });
    const sent = await channel.broadcast(broadcast);
    expect(text(sent)).toBe("event: chat\nid: e:1\ndata: live\n\n");
    void target.close();
    expect(await response.text()).toBe(
      ":\n\nevent: chat\ndata: again\n\nevent: chat\nid: e:1\ndata: live\n\n",
    );
  });
});

describe("an event from another copy of the package", () => {
  test("ServerSentEvent from a second copy of the package is sent, validated, by dispatchEvent and Channel.broadcast", async () => {
    const { cpSync, mkdtempSync, rmSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    // A second install of the package (a store or a library with its own copy).
    const root = mkdtempSync(join(tmpdir(), "sendevents-copy-"));
    cpSync(new URL("../src", import.meta.url), join(root, "src"), { recursive: true });
    try {
      const other = (await import(
        /* @vite-ignore */ join(root, "src", "index.ts")
      )) as typeof import("../src/index.ts");
      expect(other.ServerSentEvent).not.toBe(ServerSentEvent);
      const { response, target } = sendEvents(new Request("http://localhost/"), {
        keepAlive: false,
      });
      const channel = new Channel("c", { store: new MemoryEventStore({ epoch: "e" }) });
      await channel.register(target, { lastEventId: "" });
      const heard: string[] = [];
      target.addEventListener("chat", (event) => heard.push((event as ServerSentEvent).data));
      // Sent as what it says it is: before, nothing was sent and dispatchEvent returned true.
      expect(target.dispatchEvent(new other.ServerSentEvent("chat", "hello", { id: 1 }))).toBe(
        true,
      );
      expect(heard).toEqual(["hello"]);
      // Before, the event itself was taken for data: `data: {}`.
      const sent = await channel.broadcast(new other.ServerSentEvent("chat", "via channel"));
      expect(sent.data).toBe("via channel");
      // Validated again here: a forged field from the other copy cannot reach the wire.
      const forged = new other.ServerSentEvent("chat", "x");
      Object.defineProperty(forged, "id", { value: "1\n\nevent: admin" });
      expect(() => target.dispatchEvent(forged)).toThrow(TypeError);
      // A store that brings its own copy: its events are sent, live and replayed.
      const room = new Channel("room", { store: new other.MemoryEventStore({ epoch: "o" }) });
      await expect(room.broadcast("from the other store")).resolves.toMatchObject({ id: "o:1" });
      await room.register(target, { lastEventId: "o:0" });
      void target.close();
      expect(await response.text()).toBe(
        ":\n\nevent: chat\nid: 1\ndata: hello\n\nevent: chat\nid: e:1\ndata: via channel\n\nid: o:1\ndata: from the other store\n\n",
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
