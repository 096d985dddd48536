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

/** A parser made by {@linkcode createEventStreamParser}. */
export interface EventStreamParser {
  /** Reads the next piece of the stream; events complete in it are called back before it returns. */
  feed(chunk: string): void;
  /**
   * Ends the stream: an event without its blank line, and a line without its end, are dropped,
   * as the standard says. The last event id stays; the parser can read a new stream.
   */
  end(): void;
  /**
   * The last event id as of the last blank line, which is what a client sends back: the id of an
   * event cut off by the end of the stream never counts.
   */
  readonly lastEventId: string;
}

/**
 * The value of the field `name` if the line from `start` to `end` is that field: `name`, then a
 * colon or the line's end. The caller has checked the first character already.
 */
function fieldValue(text: string, start: number, end: number, name: string): string | undefined {
  const after = start + name.length;
  if (after > end) return undefined;
  for (let i = 1; i < name.length; i++) {
    if (text.charCodeAt(start + i) !== name.charCodeAt(i)) return undefined;
  }
  if (after === end) return "";
  if (text.charCodeAt(after) !== COLON) return undefined;
  const value = after + 1 < end && text.charCodeAt(after + 1) === SPACE ? after + 2 : after + 1;
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
 * Makes a parser of a decoded event stream, which calls back once per event.
 *
 * The state the standard names lives in one closure (local variables are the fastest state a
 * JavaScript engine has): the data buffer, the event type buffer and the last event ID buffer.
 *
 * @param onEvent Called for each event, with its type (`"message"` when it has none), data, own
 *   `id` field and own `retry` field.
 * @param hooks `onRetry` and `onComment`.
 * @param lastEventId The last event id to start from, as a reconnecting client's is.
 * @returns The parser.
 */
export function createEventStreamParser(
  onEvent: ParsedEventCallback,
  hooks: EventStreamParserHooks = {},
  lastEventId = "",
): EventStreamParser {
  const { onRetry, onComment } = hooks;
  /** The start of a line whose end has not arrived yet. */
  let pending = "";
  /** The last piece ended in CR: an LF at the start of the next one belongs to that line end. */
  let afterCR = false;
  let data = "";
  let hasData = false;
  let type = "";
  /** The `id` field of the event being read, or `undefined` if it had none (so far). */
  let id: string | undefined;
  let retry: number | undefined;
  /** The last event ID buffer: carries over from event to event. */
  let idBuffer = lastEventId;
  let committedId = lastEventId;

  function dispatch(): void {
    committedId = idBuffer;
    const eventId = id;
    const eventRetry = retry;
    id = undefined;
    retry = undefined;
    if (!hasData) {
      type = "";
      return;
    }
    const eventType = type === "" ? "message" : type;
    const eventData = data;
    data = "";
    hasData = false;
    type = "";
    onEvent(eventType, eventData, eventId, eventRetry);
  }

  /** Any line but a blank one or a `data:` one, which `feed` reads itself. */
  function line(text: string, start: number, end: number): void {
    const first = text.charCodeAt(start);
    let value: string | undefined;
    switch (first) {
      case COLON:
        if (onComment !== undefined) {
          const from =
            start + 1 < end && text.charCodeAt(start + 1) === SPACE ? start + 2 : start + 1;
          onComment(text.slice(from, end));
        }
        return;
      case 100: // d: "data" without a colon
        if (fieldValue(text, start, end, "data") === "") {
          if (hasData) data += "\n";
          else {
            data = "";
            hasData = true;
          }
        }
        return;
      case 101: // e
        // `event: ` with its colon and space, the usual form, checked inline.
        if (
          start + 6 < end &&
          text.charCodeAt(start + 5) === COLON &&
          text.charCodeAt(start + 6) === SPACE &&
          text.charCodeAt(start + 1) === 118 &&
          text.charCodeAt(start + 2) === 101 &&
          text.charCodeAt(start + 3) === 110 &&
          text.charCodeAt(start + 4) === 116
        ) {
          type = text.slice(start + 7, end);
          return;
        }
        value = fieldValue(text, start, end, "event");
        if (value !== undefined) type = value;
        return;
      case 105: // i
        value = fieldValue(text, start, end, "id");
        // An id with NUL is ignored: it could not be sent back in a header.
        if (value !== undefined && value.indexOf("\0") === -1) {
          idBuffer = value;
          id = value;
        }
        return;
      case 114: // r
        value = fieldValue(text, start, end, "retry");
        if (value !== undefined && isDigits(value)) {
          retry = Number.parseInt(value, 10);
          onRetry?.(retry);
        }
        return;
      default:
        // Any other field is ignored.
        return;
    }
  }

  function feed(chunk: string): void {
    if (chunk.length === 0) return;
    let text = chunk;
    let pos = 0;
    if (afterCR) {
      afterCR = false;
      if (text.charCodeAt(0) === LF) pos = 1;
    }
    // A pending line start: glue it on only when this piece ends that line, so that a long line
    // sent in many pieces is not copied again for each of them.
    if (pending !== "") {
      if (text.indexOf("\n") === -1 && text.indexOf("\r") === -1) {
        pending += text;
        return;
      }
      // join() gives a flat string; `+` a rope, every charCodeAt of which goes through a pointer.
      text = [pending, text].join("");
      pending = "";
    }
    const end = text.length;
    let lineStart = pos;
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
          afterCR = true;
          pos = end;
        } else pos = text.charCodeAt(cr + 1) === LF ? cr + 2 : cr + 1;
      }
      // Blank lines and `data:` lines, nearly all there is, are read here without a call.
      if (lineStart === lineEnd) dispatch();
      else if (
        lineStart + 4 < lineEnd &&
        text.charCodeAt(lineStart + 4) === COLON &&
        text.charCodeAt(lineStart) === 100 &&
        text.charCodeAt(lineStart + 1) === 97 &&
        text.charCodeAt(lineStart + 2) === 116 &&
        text.charCodeAt(lineStart + 3) === 97
      ) {
        const from =
          lineStart + 5 < lineEnd && text.charCodeAt(lineStart + 5) === SPACE
            ? lineStart + 6
            : lineStart + 5;
        if (hasData) data += "\n" + text.slice(from, lineEnd);
        else {
          data = text.slice(from, lineEnd);
          hasData = true;
        }
      } else line(text, lineStart, lineEnd);
      lineStart = pos;
      if (cr !== -1 && cr < pos) cr = text.indexOf("\r", pos);
      if (lf !== -1 && lf < pos) lf = text.indexOf("\n", pos);
    }
    if (lineStart < end) pending = text.slice(lineStart);
  }

  function end(): void {
    pending = "";
    afterCR = false;
    data = "";
    hasData = false;
    type = "";
    id = undefined;
    retry = undefined;
    idBuffer = committedId;
  }

  return {
    feed,
    end,
    get lastEventId() {
      return committedId;
    },
  };
}
