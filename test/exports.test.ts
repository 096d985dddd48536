import { describe, expect, test } from "vitest";
import * as hono from "../adapters/hono.ts";
import * as node from "../adapters/node.ts";
import * as redis from "../adapters/redis.ts";
import * as client from "../src/client/index.ts";
import * as root from "../src/index.ts";

describe("exports", () => {
  test('exports of "sendevents" are exactly the public API', () => {
    expect(Object.keys(root).sort()).toMatchInlineSnapshot(`
      [
        "Channel",
        "DEFAULT_HEADERS",
        "MemoryEventStore",
        "ServerSentEvent",
        "ServerSentEventTarget",
        "StreamCloseEvent",
        "StreamGroup",
        "acceptsEventStream",
        "metrics",
        "readLastEventId",
        "sendEvents",
      ]
    `);
  });

  test('exports of "sendevents/node" are exactly the public API', () => {
    expect(Object.keys(node).sort()).toMatchInlineSnapshot(`
      [
        "createListener",
        "serve",
      ]
    `);
  });

  test('exports of "sendevents/hono" are exactly the public API', () => {
    expect(Object.keys(hono).sort()).toMatchInlineSnapshot(`
      [
        "events",
        "serverSentEvents",
      ]
    `);
  });

  test('exports of "sendevents/redis" are exactly the public API', () => {
    expect(Object.keys(redis).sort()).toMatchInlineSnapshot(`
      [
        "RedisEventStore",
      ]
    `);
  });

  test('exports of "sendevents/client" are exactly the public API', () => {
    expect(Object.keys(client).sort()).toMatchInlineSnapshot(`
      [
        "ConnectionErrorEvent",
        "DEFAULT_MAX_RETRY_DELAY",
        "DEFAULT_RETRY",
        "EventConnection",
        "collectEvents",
        "connect",
        "readEvents",
      ]
    `);
  });
});
