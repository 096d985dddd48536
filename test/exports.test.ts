import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
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

  test("the type exports of every entry are exactly the public API", () => {
    // Types vanish at run time, so the lists above cannot see them: read each entry's exported
    // names, types included, with the compiler.
    const root = join(dirname(fileURLToPath(import.meta.url)), "..");
    const entries = {
      sendevents: "src/index.ts",
      "sendevents/node": "adapters/node.ts",
      "sendevents/hono": "adapters/hono.ts",
      "sendevents/redis": "adapters/redis.ts",
      "sendevents/client": "src/client/index.ts",
      "sendevents/cloudflare": "adapters/cloudflare.ts",
    };
    const files = [
      ...Object.values(entries).map((entry) => join(root, entry)),
      join(root, "adapters/_cloudflare/workers-module.d.ts"),
    ];
    const program = ts.createProgram(files, {
      allowImportingTsExtensions: true,
      noEmit: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
    });
    const checker = program.getTypeChecker();
    const typesOnly = Object.fromEntries(
      Object.entries(entries).map(([name, entry]) => {
        const symbol = checker.getSymbolAtLocation(program.getSourceFile(join(root, entry))!)!;
        const names = checker
          .getExportsOfModule(symbol)
          .filter((exported) => {
            const target =
              exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
            return (target.flags & ts.SymbolFlags.Value) === 0;
          })
          .map((exported) => exported.name)
          .sort();
        return [name, names.join(", ")];
      }),
    );
    expect(typesOnly).toMatchInlineSnapshot(`
      {
        "sendevents": "AddListenerOptions, BroadcastEvent, ChannelBroadcastInit, ChannelMemberOptions, ChannelOptions, CloseAllOptions, CloseAllResult, CloseOptions, CloseReason, CompatibleTarget, EventListenerInput, EventOfMap, EventOptions, EventRecord, EventStore, EventStoreFeed, EventStoreReadOptions, EventStoreReadResult, EventStoreStaleReason, EventStoreSubscription, HeadersInit, JsonReplacer, MemoryEventStoreOptions, MessageData, PipeFromOptions, RemoveListenerOptions, SendEventsOptions, SendEventsResult, ServerSentEventInit, ServerSentEventListener, ServerSentEventTargetOptions, StreamCloseEventInit, StreamCloseListener, StreamMetrics, TypesFor, UnacceptedEventTypes",
        "sendevents/client": "AddListenerOptions, CollectEventsOptions, ConnectInit, ConnectOptions, ConnectionEnd, ConnectionErrorEventInit, ConnectionEventOf, ConnectionListener, DataEvent, EventListenerInput, EventOf, EventParsers, FetchFunction, JsonEventTypes, OptionsArgument, ParseOption, ReadEventsOptions, ReceivedEvent, ReceivedMessageData, RemoveListenerOptions, StaleData, TextEventTypes, TextEvents",
        "sendevents/cloudflare": "AuthorizeResult, ChannelNamespace, ChannelObjectBroadcastInit, ChannelObjectOptions, ChannelObjectState, ChannelObjectStats, RouteChannelOptions, SqlCursor, SqlEventStoreOptions, SqlStorageLike, SqlValue",
        "sendevents/hono": "EventsCallback, EventsOptions, SendEventsFunction, ServerSentEventsEnv",
        "sendevents/node": "FetchHandler, ListenerOptions, NodeRequest, NodeResponse, NodeServer, ServeOptions",
        "sendevents/redis": "NodeRedisClient, RedisConnection, RedisEventStoreOptions, RedisSubscriber",
      }
    `);
  });
});
