/** The longest `Last-Event-ID` we accept; longer values read as `""`. */
export const MAX_LAST_EVENT_ID_LENGTH = 1024;

const CR_LF_OR_NUL = /[\r\n\0]/;
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/**
 * Reads a request's `Last-Event-ID` header as the id the client last saw.
 *
 * Header values arrive as byte strings (one character per byte). Browsers send the id as UTF-8,
 * as the HTML standard asks, so bytes that form valid UTF-8 are decoded as such; other bytes are
 * read one character per byte (Latin-1), which is what clients built on `fetch` send for ids in
 * that range. Anything that cannot be an id we sent (over 1024 characters, CR, LF or NUL) reads as
 * `""`, the value of "no id".
 *
 * @param headers The request's headers.
 * @returns The id, or `""`.
 *
 * @example Read the id a reconnecting client sends
 * ```ts
 * import { readLastEventId } from "sendevents";
 *
 * const request = new Request("http://localhost/", { headers: { "Last-Event-ID": "42" } });
 * readLastEventId(request.headers); // "42"
 * ```
 */
export function readLastEventId(headers: Headers): string {
  return parseLastEventId(headers.get("last-event-id"));
}

/** @internal {@linkcode readLastEventId} for a raw header value (an adapter's own headers). */
export function parseLastEventId(raw: string | null | undefined): string {
  if (raw === null || raw === undefined || raw === "") return "";
  // Bytes can only grow in UTF-8, so the length check is safe before decoding.
  if (raw.length > MAX_LAST_EVENT_ID_LENGTH * 4) return "";
  let id = raw;
  let ascii = true;
  for (let i = 0; i < raw.length; i++) {
    if (raw.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (!ascii) {
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) {
      const code = raw.charCodeAt(i);
      // A runtime that already decoded the header gives characters past one byte: keep them.
      if (code > 0xff) return valid(raw);
      bytes[i] = code;
    }
    try {
      id = UTF8.decode(bytes);
    } catch {
      // Not UTF-8: keep the Latin-1 reading.
    }
  }
  return valid(id);
}

function valid(id: string): string {
  return id.length > MAX_LAST_EVENT_ID_LENGTH || CR_LF_OR_NUL.test(id) ? "" : id;
}
