import { events } from "./_internal/access.ts";
import { describe } from "./_internal/describe.ts";
import {
  assertEventType,
  assertRetry,
  encodeFrame,
  formatEvent,
  normalizeId,
  serializeData,
} from "./_internal/format.ts";
import type { EventOptions } from "./web-types.ts";

/** The replacer argument of `JSON.stringify`, in either of its two forms. */
export type JsonReplacer =
  | ((this: unknown, key: string, value: unknown) => unknown)
  | (string | number)[]
  | null;

/** Options for {@linkcode ServerSentEvent}, beside the standard event options. */
export interface ServerSentEventInit extends EventOptions {
  /**
   * Sent as the `id:` field; the client stores it and sends it back as `Last-Event-ID` when it
   * reconnects. `0` and `""` are sent too (`""` clears the client's last event id).
   */
  id?: string | number;
  /** Sent as the `retry:` field: the client's reconnection time, in milliseconds. */
  retry?: number;
  /** Passed to `JSON.stringify` when the data is not a string. */
  replacer?: JsonReplacer;
  /** Passed to `JSON.stringify` when the data is not a string. Line breaks it adds are kept. */
  space?: string | number;
}

/**
 * Marks a `ServerSentEvent` of any copy of this package (a library or a store may bring its own):
 * `instanceof` tells only this copy's, whose private fields the target reads.
 */
const BRAND: unique symbol = Symbol.for("sendevents.ServerSentEvent");

/**
 * An event that a {@linkcode ServerSentEventTarget} sends to its client, where `EventSource`
 * raises it as a `MessageEvent` of the same type.
 *
 * Everything is validated when the event is made, so a bad type, id or payload throws here and
 * never reaches a stream; `data`, `id` and `retry` are read-only, so what was validated is what is
 * sent. The event is encoded to bytes once, the first time it is sent; sending the same event to
 * many targets reuses those bytes, and each target's listeners get an event of their own
 * (`preventDefault()` or `stopImmediatePropagation()` on one target never affects another).
 *
 * @typeParam Type The event type; `"message"` is what `EventSource.onmessage` receives.
 * @typeParam Data The payload before serialisation.
 *
 * @example Send a named event with an id
 * ```ts
 * import { sendEvents, ServerSentEvent } from "sendevents";
 *
 * const { response, target } = sendEvents(new Request("http://localhost/"));
 * target.dispatchEvent(new ServerSentEvent("ping", { hello: "world" }, { id: 1 }));
 * void target.close();
 * console.log(await response.text());
 * // ":\n\nevent: ping\nid: 1\ndata: {"hello":"world"}\n\n" (the stream opens with a comment)
 * ```
 */
export class ServerSentEvent<Type extends string = string, Data = unknown> extends Event {
  /**
   * Type-only: ties `Type` and `Data` to the event, so a target's event map can check it. Never
   * set. (`type` itself stays `Event`'s: runtimes' typings declare it as a property or as an
   * accessor, and a member of ours would clash with one of them, TS2610 / TS2611.)
   */
  declare protected readonly eventMapEntry?: { type: Type; data: Data };
  /**
   * The type as validated. `type` itself is `Event`'s accessor, which an own property or a
   * subclass can shadow: the wire never reads it.
   */
  readonly #type: string;
  readonly #data: string;
  readonly #id: string | undefined;
  readonly #retry: number | undefined;
  #frame: Uint8Array | undefined;
  /** A target's listeners have had this event: the next target's get a copy. */
  #raised = false;

  static {
    events.frame = (event) => {
      if (event.#frame === undefined) {
        event.#frame = encodeFrame(
          formatEvent({ type: event.#type, data: event.#data, id: event.#id, retry: event.#retry }),
        );
      }
      return event.#frame;
    };
    events.forListeners = (event) => {
      // A runtime's EventTarget finds listeners by the public `type`: a shadowed one gets a copy.
      if (!event.#raised && !shadowsType(event, event.#type)) {
        event.#raised = true;
        return event;
      }
      // Already validated: the copy only needs the fields, and shares the encoded bytes.
      const copy = new ServerSentEvent(event.#type, event.#data, {
        cancelable: event.cancelable,
        ...(event.#id === undefined ? {} : { id: event.#id }),
        ...(event.#retry === undefined ? {} : { retry: event.#retry }),
      });
      copy.#frame = event.#frame;
      copy.#raised = true;
      return copy;
    };
    events.encoded = (event) => event.#frame !== undefined;
    events.own = (value) => {
      if (value instanceof ServerSentEvent) return value;
      if (
        value === null ||
        typeof value !== "object" ||
        (value as { [BRAND]?: unknown })[BRAND] !== true
      ) {
        return undefined;
      }
      // Another copy's event: made again from its public fields (and so validated here).
      const foreign = value as ServerSentEvent;
      const { id, retry } = foreign;
      return new ServerSentEvent(foreign.type, foreign.data, {
        cancelable: foreign.cancelable,
        ...(id === undefined ? {} : { id }),
        ...(retry === undefined ? {} : { retry }),
      });
    };
    events.type = (event) => event.#type;
    events.fields = (event) => ({
      type: event.#type,
      data: event.#data,
      id: event.#id,
      retry: event.#retry,
    });
  }

  /**
   * Creates an event and validates it: what is validated here is what is sent.
   *
   * @param type The event type. Must not be empty or contain CR or LF.
   * @param data A string is sent as is; anything else as `JSON.stringify(data, replacer, space)`.
   * @param init `id`, `retry`, the JSON options, and `cancelable` for local listeners.
   * @throws {TypeError} If the type is empty or has CR/LF, the id has CR, LF or NUL, or the data
   *   has no JSON form (`undefined`, a cycle, a BigInt, a throwing `toJSON`).
   * @throws {RangeError} If `retry` is not a non-negative safe integer, or `id` is a non-finite number.
   */
  constructor(type: Type, data: Data, init: ServerSentEventInit = {}) {
    const action = "Cannot create event";
    assertEventType(type, action);
    // Each field is read once: a getter that answers differently the second time must not get a
    // value past the check (what is validated is what is sent).
    const { id: rawId, retry, replacer, space } = init;
    const text = serializeData(data, `${action} ${describe(type)}`, replacer, space);
    const id = rawId === undefined ? undefined : normalizeId(rawId, action);
    if (retry !== undefined) assertRetry(retry, action);
    super(type, init);
    this.#type = type;
    this.#data = text;
    this.#id = id;
    this.#retry = retry;
  }

  static {
    Object.defineProperty(ServerSentEvent.prototype, BRAND, { value: true });
  }

  /** The payload as it goes on the wire: the string itself, or its JSON. */
  get data(): string {
    return this.#data;
  }

  /** The `id:` field, or `undefined` when the event has none. */
  get id(): string | undefined {
    return this.#id;
  }

  /** The `retry:` field in milliseconds, or `undefined` when the event has none. */
  get retry(): number | undefined {
    return this.#retry;
  }
}

/** Whether `event.type` no longer reads as the validated `type` (or throws). */
function shadowsType(event: Event, type: string): boolean {
  try {
    return event.type !== type;
  } catch {
    return true;
  }
}
