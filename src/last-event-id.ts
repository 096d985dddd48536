import { parseLastEventId } from "./_internal/last-event-id.ts";

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
