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
export { acceptsEventStream } from "./accepts-event-stream.ts";
export {
  type BroadcastEvent,
  Channel,
  type ChannelBroadcastInit,
  type ChannelMemberOptions,
  type ChannelOptions,
  type CompatibleTarget,
  type UnacceptedEventTypes,
} from "./channel.ts";
export { DEFAULT_HEADERS } from "./default-headers.ts";
export type {
  EventRecord,
  EventStore,
  EventStoreFeed,
  EventStoreReadOptions,
  EventStoreReadResult,
  EventStoreStaleReason,
  EventStoreSubscription,
} from "./event-store.ts";
export { readLastEventId } from "./last-event-id.ts";
export { MemoryEventStore, type MemoryEventStoreOptions } from "./memory-event-store.ts";
export { metrics, type StreamMetrics } from "./metrics.ts";
export type { EventOfMap, PipeFromOptions, TypesFor } from "./pipe-from.ts";
export {
  type SendEventsOptions,
  type SendEventsResult,
  sendEvents,
} from "./send-events.ts";
export {
  type JsonReplacer,
  ServerSentEvent,
  type ServerSentEventInit,
} from "./server-sent-event.ts";
export {
  type CloseOptions,
  type MessageData,
  type ServerSentEventListener,
  ServerSentEventTarget,
  type ServerSentEventTargetOptions,
  type StreamCloseListener,
} from "./server-sent-event-target.ts";
export {
  type CloseReason,
  StreamCloseEvent,
  type StreamCloseEventInit,
} from "./stream-close-event.ts";
export {
  type CloseAllOptions,
  type CloseAllResult,
  StreamGroup,
} from "./stream-group.ts";
export type {
  AddListenerOptions,
  EventListenerInput,
  EventOptions,
  HeadersInit,
  RemoveListenerOptions,
} from "./web-types.ts";
