/**
 * The one door through which internal code reaches the private parts of the public classes.
 *
 * Each class fills its object once, from a `static` block inside the class body (where its
 * `#private` fields are in scope), and everything else goes through that object:
 * `streams.of(target)` is a target's {@linkcode EventStream}; `events.frame(event)` an event's
 * bytes. A class fills its object when its module is evaluated: code that holds one of its
 * instances has evaluated it. Nothing here is exported from the package, and a value that is not one of this copy's
 * targets or events fails the private-field brand check with a `TypeError`.
 *
 * @module
 */

import type { ServerSentEvent } from "../server-sent-event.ts";
import type { ServerSentEventTarget } from "../server-sent-event-target.ts";
import type { EventStream, StreamInit } from "./event-stream.ts";
import type { EventFields } from "./format.ts";

/** Filled by `ServerSentEventTarget`'s static block. */
export interface TargetAccess {
  /** The stream core behind `target`. */
  of(target: ServerSentEventTarget): EventStream;
}

/**
 * The key of `ServerSentEventTarget`'s constructor, which is private to the package: whoever
 * makes a target calls the class itself (see `open-stream.ts`), so that a bundler that drops
 * modules whose exports go unused (the package is `sideEffects: false`) keeps the class, and
 * with it the static block that fills {@linkcode streams}.
 */
export const CONSTRUCT: unique symbol = Symbol("construct");

/** `ServerSentEventTarget`'s constructor as the package may call it. */
export type TargetConstructor = new (
  key: typeof CONSTRUCT,
  init: StreamInit,
) => ServerSentEventTarget;

/** Filled by `ServerSentEvent`'s static block. */
export interface EventAccess {
  /** The encoded bytes of `event`, computed on first use and cached on it. */
  frame(event: ServerSentEvent): Uint8Array;
  /** Whether `event` has been encoded already. */
  encoded(event: ServerSentEvent): boolean;
  /**
   * The fields as they were validated, whatever the public properties say now (an own property or
   * a subclass can shadow `type`, `data`, `id` and `retry`).
   */
  fields(event: ServerSentEvent): EventFields;
  /** The type as validated: `fields(event).type` without making the fields object. */
  type(event: ServerSentEvent): string;
  /**
   * The event to raise on one target's listeners: `event` itself the first time, then a copy that
   * shares its bytes, so one target's `preventDefault()` or `stopImmediatePropagation()` never
   * reaches the next target's listeners.
   */
  forListeners(event: ServerSentEvent): ServerSentEvent;
  /**
   * `value` as one of this copy's events: itself, or, for a `ServerSentEvent` of another copy of
   * the package, one of ours made (and so validated again) from its public fields; otherwise
   * `undefined`.
   */
  own(value: unknown): ServerSentEvent | undefined;
}

function unset(): never {
  throw new Error("sendevents: a class's internal access is used before the class is defined");
}

export const streams: TargetAccess = { of: unset };

export const events: EventAccess = {
  frame: unset,
  encoded: unset,
  fields: unset,
  type: unset,
  forListeners: unset,
  own: unset,
};

/** The stream core behind `target`: shorthand for `streams.of(target)`. */
export function streamOf(target: ServerSentEventTarget): EventStream {
  return streams.of(target);
}
