import type { ServerSentEvent } from "./server-sent-event.ts";

/** Any event of an event map: `ServerSentEvent<Type, Events[Type]>` for one of its types. */
export type EventOfMap<Events> = {
  [Type in keyof Events & string]: ServerSentEvent<Type, Events[Type]>;
}[keyof Events & string];

/** The types of an event map whose data an `Item` can be: what `pipeFrom`'s `event` may name. */
export type TypesFor<Item, Events> = {
  [Type in keyof Events & string]: [Item] extends [Events[Type]] ? Type : never;
}[keyof Events & string];

/**
 * Options for {@linkcode ServerSentEventTarget.pipeFrom}. On a target typed by an event map,
 * `event` must name a type of the map whose data the items are, and `map` must return an event
 * of the map.
 */
export interface PipeFromOptions<Item, Events extends object = Record<string, unknown>> {
  /**
   * Turns an item into the event to send, or `undefined` to skip it. When given, `event` and `id`
   * are not used.
   */
  map?: (item: Item, index: number) => EventOfMap<Events> | undefined;
  /**
   * The event type of every item, or a function that picks it per item. The item itself is the
   * data: a string is sent as is, anything else as JSON.
   * @default "message"
   */
  event?: TypesFor<Item, Events> | ((item: Item, index: number) => keyof Events & string);
  /** Picks each item's `id:` field (`undefined`: none). */
  id?: (item: Item, index: number) => string | number | undefined;
  /**
   * Leave the stream open when the source ends (to pipe another source after it, say). By
   * default the stream is closed once the source is done.
   * @default false
   */
  preventClose?: boolean;
  /**
   * When the stream ends first (the client left), keep reading the source to its end and
   * discard what it yields, instead of cancelling it: for work that must finish (a generation
   * whose result is saved at the end). By default the source is cancelled (`return()` on an
   * iterator, `cancel()` on a stream).
   * @default false
   */
  preventCancel?: boolean;
  /**
   * Stops piping when aborted, leaving the stream open; the source is cancelled unless
   * `preventCancel` is set.
   */
  signal?: AbortSignal;
}
