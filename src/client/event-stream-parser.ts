/**
 * The client's reading of the `text/event-stream` format (WHATWG HTML, §9.2.6 "Interpreting an
 * event stream"), as a small streaming state machine over decoded text. It is fed text in pieces
 * of any size: a line, a CRLF or a field may be cut anywhere, and it is put together again.
 *
 * Decoding is the caller's part: `TextDecoder` (UTF-8, replacement characters for bad bytes, one
 * leading BOM dropped) does exactly what the standard asks.
 *
 * @module
 */

const LF = 10;
const COLON = 58;
const SPACE = 32;

/** Called once per dispatched event: one that had at least one `data` line. */
export type ParsedEventCallback = (
  type: string,
  data: string,
  id: string | undefined,
  retry: number | undefined,
) => void;

/** What the parser calls back, besides the events. */
export interface EventStreamParserHooks {
  /** A valid `retry:` field (ASCII digits only): the new reconnection time in milliseconds. */
  onRetry?: (retry: number) => void;
  /** A comment line's text, after the colon and one optional space. */
  onComment?: (text: string) => void;
}

/** Whether `text` has exactly the field `name` at `start`: `name` then a colon or the line end. */
function fieldValue(text: string, start: number, end: number, name: string): string | undefined {
  const after = start + name.length;
  if (after > end || !text.startsWith(name, start)) return undefined;
  if (after === end) return "";
  if (text.charCodeAt(after) !== COLON) return undefined;
  const value = text.charCodeAt(after + 1) === SPACE && after + 1 < end ? after + 2 : after + 1;
  return text.slice(value, end);
}

/** Whether a `retry` value is one or more ASCII digits, the only form the standard accepts. */
function isDigits(value: string): boolean {
  if (value === "") return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 48 || code > 57) return false;
  }
  return true;
}

/**
 * Parses a decoded event stream piece by piece and calls back once per event.
 *
 * The state the standard names is kept here: the data buffer, the event type buffer and the last
 * event ID buffer. `lastEventId` is the id an `EventSource` would send on reconnect: the buffer
 * as it was at the last blank line, so the id of an event cut off by the end of the stream never
 * counts.
 */
export class EventStreamParser {
  readonly #onEvent: ParsedEventCallback;
  readonly #onRetry: ((retry: number) => void) | undefined;
  readonly #onComment: ((text: string) => void) | undefined;
  /** The start of a line whose end has not arrived yet. */
  #pending = "";
  /** The last piece ended in CR: an LF at the start of the next one belongs to that line end. */
  #afterCR = false;
  #data = "";
  #hasData = false;
  #type = "";
  /** The `id` field of the event being read, or `undefined` if it had none (so far). */
  #id: string | undefined = undefined;
  #retry: number | undefined = undefined;
  /** The last event ID buffer: carries over from event to event. */
  #idBuffer: string;
  #lastEventId: string;

  /**
   * @param onEvent Called for each event, with its type (`"message"` when it has none), data, own
   *   `id` field and own `retry` field.
   * @param lastEventId The last event id to start from, as a reconnecting client's is.
   */
  constructor(onEvent: ParsedEventCallback, hooks: EventStreamParserHooks = {}, lastEventId = "") {
    this.#onEvent = onEvent;
    this.#onRetry = hooks.onRetry;
    this.#onComment = hooks.onComment;
    this.#idBuffer = lastEventId;
    this.#lastEventId = lastEventId;
  }

  /** The last event id as of the last blank line, which is what a client sends back. */
  get lastEventId(): string {
    return this.#lastEventId;
  }

  /** Reads the next piece of the stream. Events complete in it are called back before it returns. */
  feed(chunk: string): void {
    let text = chunk;
    let pos = 0;
    const length = text.length;
    if (length === 0) return;
    if (this.#afterCR) {
      this.#afterCR = false;
      if (text.charCodeAt(0) === LF) pos = 1;
    }
    let lineStart = pos;
    // A pending line start: glue it on only when this piece ends that line, so that a long line
    // sent in many pieces is not copied again for each of them.
    if (this.#pending !== "") {
      if (text.indexOf("\n") === -1 && text.indexOf("\r") === -1) {
        this.#pending += text;
        return;
      }
      text = this.#pending + text;
      this.#pending = "";
      pos = 0;
      lineStart = 0;
    }
    const end = text.length;
    // The next CR and LF at or after `pos`, found once and searched again only when passed, so
    // that a stream without CR (or without LF) is not scanned to its end for every line.
    let cr = text.indexOf("\r", pos);
    let lf = text.indexOf("\n", pos);
    while (cr !== -1 || lf !== -1) {
      let lineEnd: number;
      if (cr === -1 || (lf !== -1 && lf < cr)) {
        lineEnd = lf;
        pos = lf + 1;
      } else {
        lineEnd = cr;
        if (cr + 1 === end) {
          this.#afterCR = true;
          pos = end;
        } else pos = text.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
      }
      this.#line(text, lineStart, lineEnd);
      lineStart = pos;
      if (cr !== -1 && cr < pos) cr = text.indexOf("\r", pos);
      if (lf !== -1 && lf < pos) lf = text.indexOf("\n", pos);
    }
    if (lineStart < end) this.#pending = text.slice(lineStart);
  }

  /**
   * Ends the stream: an event without its blank line, and a line without its end, are dropped,
   * as the standard says. The last event id stays; the parser can read a new stream.
   */
  end(): void {
    this.#pending = "";
    this.#afterCR = false;
    this.#data = "";
    this.#hasData = false;
    this.#type = "";
    this.#id = undefined;
    this.#retry = undefined;
    this.#idBuffer = this.#lastEventId;
  }

  #line(text: string, start: number, end: number): void {
    if (start === end) {
      this.#dispatch();
      return;
    }
    let value: string | undefined;
    switch (text.charCodeAt(start)) {
      case COLON:
        if (this.#onComment !== undefined) {
          const from =
            text.charCodeAt(start + 1) === SPACE && start + 1 < end ? start + 2 : start + 1;
          this.#onComment(text.slice(from, end));
        }
        return;
      case 100: // d
        value = fieldValue(text, start, end, "data");
        if (value === undefined) return;
        if (this.#hasData) this.#data += "\n" + value;
        else {
          this.#data = value;
          this.#hasData = true;
        }
        return;
      case 101: // e
        value = fieldValue(text, start, end, "event");
        if (value !== undefined) this.#type = value;
        return;
      case 105: // i
        value = fieldValue(text, start, end, "id");
        // An id with NUL is ignored: it could not be sent back in a header.
        if (value !== undefined && value.indexOf("\0") === -1) {
          this.#idBuffer = value;
          this.#id = value;
        }
        return;
      case 114: // r
        value = fieldValue(text, start, end, "retry");
        if (value !== undefined && isDigits(value)) {
          const retry = Number.parseInt(value, 10);
          this.#retry = retry;
          this.#onRetry?.(retry);
        }
        return;
      default:
        // Any other field is ignored.
        return;
    }
  }

  #dispatch(): void {
    this.#lastEventId = this.#idBuffer;
    const id = this.#id;
    const retry = this.#retry;
    this.#id = undefined;
    this.#retry = undefined;
    if (!this.#hasData) {
      this.#type = "";
      return;
    }
    const type = this.#type === "" ? "message" : this.#type;
    const data = this.#data;
    this.#data = "";
    this.#hasData = false;
    this.#type = "";
    this.#onEvent(type, data, id, retry);
  }
}
