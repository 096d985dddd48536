/**
 * Server-Sent Events for every web-standards runtime: {@linkcode sendEvents} takes a `Request`
 * and returns a streaming `Response` fed by a {@linkcode ServerSentEventTarget}.
 *
 * @example Serve a clock
 * ```ts
 * import { sendEvents } from "sendevents";
 *
 * export function handler(request: Request): Response {
 *   const { response, target } = sendEvents(request);
 *   const timer = setInterval(() => target.dispatchMessage(new Date().toISOString()), 1000);
 *   target.addEventListener("close", () => clearInterval(timer));
 *   return response;
 * }
 * ```
 *
 * @module
 */
export { acceptsEventStream } from "./accepts-event-stream.js";
export {
  Channel,
  type ChannelBroadcastInit,
  type ChannelMemberOptions,
  type ChannelOptions,
} from "./channel.js";
export type {
  EventRecord,
  EventStore,
  EventStoreFeed,
  EventStoreReadOptions,
  EventStoreReadResult,
  EventStoreStaleReason,
  EventStoreSubscription,
} from "./event-store.js";
export { readLastEventId } from "./last-event-id.js";
export { MemoryEventStore, type MemoryEventStoreOptions } from "./memory-event-store.js";
export { metrics, type StreamMetrics } from "./metrics.js";
export type { PipeFromOptions } from "./pipe-from.js";
export {
  DEFAULT_HEADERS,
  type SendEventsOptions,
  type SendEventsResult,
  sendEvents,
} from "./send-events.js";
export {
  type JsonReplacer,
  ServerSentEvent,
  type ServerSentEventInit,
} from "./server-sent-event.js";
export {
  type CloseOptions,
  type ServerSentEventListener,
  ServerSentEventTarget,
  type ServerSentEventTargetOptions,
  type StreamCloseListener,
} from "./server-sent-event-target.js";
export {
  type CloseReason,
  StreamCloseEvent,
  type StreamCloseEventInit,
} from "./stream-close-event.js";
export {
  type CloseAllOptions,
  type CloseAllResult,
  StreamGroup,
} from "./stream-group.js";
