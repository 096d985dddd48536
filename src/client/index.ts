/**
 * The client's end: read an event stream from any `Response` ({@linkcode readEvents}), keep a
 * resuming connection like `EventSource`'s but with `fetch`'s method, headers and body
 * ({@linkcode connect}), and test a handler in one line ({@linkcode collectEvents}). Web
 * standards only: browsers, Node 18+, Deno, Bun and Workers. With the server's event map, event
 * data is typed on both ends.
 *
 * @example Read a handler's events in a test
 * ```ts
 * import { sendEvents } from "sendevents";
 * import { collectEvents } from "sendevents/client";
 *
 * const { response, target } = sendEvents(new Request("http://localhost/"));
 * target.dispatchMessage("hi");
 * void target.close();
 * const events = await collectEvents(response); // [{ type: "message", data: "hi", ... }]
 * ```
 *
 * @module
 */

export type {
  AddListenerOptions,
  DataEvent,
  EventListenerInput,
  RemoveListenerOptions,
} from "../web-types.ts";
export { type CollectEventsOptions, collectEvents } from "./collect-events.ts";
export {
  type ConnectInit,
  type ConnectionEnd,
  ConnectionErrorEvent,
  type ConnectionErrorEventInit,
  type ConnectionEventOf,
  type ConnectionListener,
  type ConnectOptions,
  connect,
  DEFAULT_MAX_RETRY_DELAY,
  DEFAULT_RETRY,
  EventConnection,
  type FetchFunction,
  type ReceivedMessageData,
  type StaleData,
} from "./connect.ts";
export type {
  EventOf,
  EventParsers,
  JsonEventTypes,
  OptionsArgument,
  ParseOption,
  ReadEventsOptions,
  ReceivedEvent,
  TextEvents,
  TextEventTypes,
} from "./read-events.ts";
export { readEvents } from "./read-events.ts";
