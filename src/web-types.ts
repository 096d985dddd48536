/**
 * Names for the Fetch and DOM dictionary types that the public API takes, derived from the
 * constructors and methods every runtime declares (`Headers`, `Event`, `EventTarget`). The DOM
 * lib's own names (`HeadersInit`, `EventInit`, `AddEventListenerOptions`) do not exist in a Node
 * project typed by `@types/node` alone, nor all of them under `@cloudflare/workers-types`, so the
 * published types must not mention them.
 *
 * @module
 */

/** What `new Headers()` accepts: a `Headers`, a record of names to values, or `[name, value]` pairs. */
export type HeadersInit = ConstructorParameters<typeof Headers>[0];

/** The standard options of an event: `bubbles`, `cancelable`, `composed`. */
export interface EventOptions {
  /** Whether the event bubbles. Targets have no parents, so it changes nothing here. */
  bubbles?: boolean;
  /** Whether a listener may cancel the event with `preventDefault()`. */
  cancelable?: boolean;
  /** Whether the event crosses shadow roots. Changes nothing here. */
  composed?: boolean;
}

/** What `addEventListener` accepts as a listener on this runtime. */
export type EventListenerInput = Parameters<EventTarget["addEventListener"]>[1];

/** What `addEventListener` accepts as options on this runtime: `{ once, signal, ... }` or `capture`. */
export type AddListenerOptions = Parameters<EventTarget["addEventListener"]>[2];

/** What `removeEventListener` accepts as options on this runtime. */
export type RemoveListenerOptions = Parameters<EventTarget["removeEventListener"]>[2];

/**
 * A `MessageEvent` whose `data` is typed: what a connection raises for each event of its stream.
 * Named here because `MessageEvent` is not generic in every runtime's typings (Cloudflare's).
 */
export interface DataEvent<Data> extends Event {
  /** The event's data: the text of its `data:` lines, or its parsed form. */
  readonly data: Data;
  /** The id the stream last set (the `id:` field), as `EventSource` reports it. */
  readonly lastEventId: string;
  /** The origin of the stream's URL. */
  readonly origin: string;
}
