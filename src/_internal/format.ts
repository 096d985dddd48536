/**
 * The one place that knows the `text/event-stream` wire format (WHATWG HTML, "Server-sent
 * events", §9.2.6 "Interpreting an event stream"). Everything here works on strings; turning them
 * into bytes happens once, in {@linkcode encodeFrame}.
 *
 * @module
 */

import { checkInteger, MAX_DELAY } from "./check-integer.ts";
import { describe } from "./describe.ts";

/** CRLF, a lone CR and a lone LF all end a line in an event stream. */
export const LINE_BREAK: RegExp = /\r\n|\r|\n/;

const CR_OR_LF = /[\r\n]/;
const CR_LF_OR_NUL = /[\r\n\0]/;
const ENCODER = new TextEncoder();

/**
 * A comment with no text and a blank line: clients ignore it. It opens every stream (so runtimes
 * that hold the headers until the first body byte send them at once) and keeps idle streams alive.
 */
export const KEEP_ALIVE_FRAME: Uint8Array = ENCODER.encode(":\n\n");

/** The fields of one event, already validated. */
export interface EventFields {
  /** Omitted from the wire when it is `"message"`, the type a client assumes. */
  readonly type: string;
  readonly data: string;
  readonly id?: string | undefined;
  readonly retry?: number | undefined;
}

/**
 * Checks an event type: any string without CR or LF, which would end the `event:` line early and
 * let the rest of the value be read as further fields.
 *
 * @throws {TypeError} If `type` is not a non-empty string or holds CR or LF.
 */
export function assertEventType(type: unknown, action: string): asserts type is string {
  if (typeof type !== "string" || type === "") {
    throw new TypeError(
      `${action}: the event type must be a non-empty string, received ${describe(type)}`,
    );
  }
  if (CR_OR_LF.test(type)) {
    throw new TypeError(
      `${action}: the event type must not contain CR or LF, received ${describe(type)}`,
    );
  }
}

/**
 * Checks and normalises an event id. Numbers (0 included) become their decimal string.
 *
 * @throws {TypeError} If `id` is not a string or number, or holds CR, LF or NUL (a client ignores
 *   an id with NUL, and CR or LF would inject fields).
 * @throws {RangeError} If `id` is a number that is not finite.
 */
export function normalizeId(id: unknown, action: string): string {
  if (typeof id === "number") {
    if (!Number.isFinite(id)) {
      throw new RangeError(
        `${action}: "id" must be a finite number or a string, received ${describe(id)}`,
      );
    }
    return String(id);
  }
  if (typeof id !== "string") {
    throw new TypeError(`${action}: "id" must be a string or a number, received ${describe(id)}`);
  }
  if (CR_LF_OR_NUL.test(id)) {
    throw new TypeError(`${action}: "id" must not contain CR, LF or NUL, received ${describe(id)}`);
  }
  return id;
}

/**
 * Checks a reconnection time in milliseconds.
 *
 * @throws {RangeError} If `retry` is not a non-negative safe integer.
 */
export function assertRetry(retry: unknown, action: string): asserts retry is number {
  // Clients wait with a timer: a reconnection time past its range makes them reconnect at once.
  checkInteger(action, "retry", retry, 0, MAX_DELAY);
}

/**
 * Turns any data into the string that a client sees as `MessageEvent.data`: strings unchanged,
 * everything else through `JSON.stringify`.
 *
 * @throws {TypeError} If the value has no JSON form (`undefined`, a function, a symbol) or
 *   `JSON.stringify` throws (cycles, BigInt, a throwing `toJSON`).
 */
export function serializeData(
  data: unknown,
  action: string,
  replacer?: ((this: unknown, key: string, value: unknown) => unknown) | (string | number)[] | null,
  space?: string | number,
): string {
  if (typeof data === "string") return data;
  let json: string | undefined;
  try {
    // The overloads of JSON.stringify do not accept the union of both replacer kinds.
    json = JSON.stringify(data, replacer as (string | number)[] | null | undefined, space);
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new TypeError(
      `${action}: data ${describe(data)} cannot be serialised as JSON (${reason})`,
      { cause },
    );
  }
  if (json === undefined) {
    throw new TypeError(`${action}: data ${describe(data)} has no JSON form and cannot be sent`);
  }
  return json;
}

/** Whether `text` holds CR or LF: two native scans, cheaper than a regular expression (3×). */
function hasLineBreak(text: string): boolean {
  return text.indexOf("\n") !== -1 || text.indexOf("\r") !== -1;
}

/** Writes `data` as one `data:` line per line of the payload, so CR, LF and CRLF all survive. */
function dataLines(data: string): string {
  if (!hasLineBreak(data)) return `data: ${data}\n`;
  return `data: ${data.split(LINE_BREAK).join("\ndata: ")}\n`;
}

/** The text of a `message` event of `data` with no other field: most frames, in one template. */
export function formatData(data: string): string {
  return hasLineBreak(data) ? `${dataLines(data)}\n` : `data: ${data}\n\n`;
}

/** The text of one event, fields in the order `event`, `id`, `retry`, `data`, then a blank line. */
export function formatEvent(fields: EventFields): string {
  let text = fields.type === "message" ? "" : `event: ${fields.type}\n`;
  if (fields.id !== undefined) text += `id: ${fields.id}\n`;
  if (fields.retry !== undefined) text += `retry: ${fields.retry}\n`;
  return text + dataLines(fields.data) + "\n";
}

/** The text of a comment: every line prefixed with `:`, then a blank line. */
export function formatComment(text: string): string {
  if (!hasLineBreak(text)) return `: ${text}\n\n`;
  return `: ${text.split(LINE_BREAK).join("\n: ")}\n\n`;
}

/** A lone `retry:` field: changes the client's reconnection time and dispatches nothing. */
export function formatRetry(retry: number): string {
  return `retry: ${retry}\n\n`;
}

/** UTF-8 bytes of a frame. Lone surrogates become U+FFFD, as `TextEncoder` defines. */
export function encodeFrame(text: string): Uint8Array {
  return ENCODER.encode(text);
}
