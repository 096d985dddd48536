import { describe, expect, test, vi } from "vitest";
import * as cloudflare from "../adapters/cloudflare.ts";
import * as hono from "../adapters/hono.ts";
import * as node from "../adapters/node.ts";
import * as redis from "../adapters/redis.ts";
import * as client from "../src/client/index.ts";
import * as root from "../src/index.ts";

// Only workerd has cloudflare:workers; here a stand-in base class is enough to list the exports.
vi.mock("cloudflare:workers", () => ({ DurableObject: class DurableObject {} }));

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

  test('exports of "sendevents/cloudflare" are exactly the public API', () => {
    expect(Object.keys(cloudflare).sort()).toMatchInlineSnapshot(`
      [
        "ChannelObject",
        "SqlEventStore",
        "routeChannel",
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
