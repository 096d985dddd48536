/**
 * Parsing a `Last-Event-ID` header value: what `readLastEventId` and every adapter read.
 *
 * @module
 */

/** The longest `Last-Event-ID` we accept; longer values read as `""`. */
export const MAX_LAST_EVENT_ID_LENGTH = 1024;

const CR_LF_OR_NUL = /[\r\n\0]/;
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `readLastEventId` for a raw header value (an adapter's own headers). */
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
