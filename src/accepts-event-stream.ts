/** Longer `Accept` headers are cut to this many characters before they are read. */
const MAX_ACCEPT_LENGTH = 8192;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Tells whether a request accepts `text/event-stream`, by RFC 9110 §12.5.1 content negotiation:
 * the most specific media range that matches (`text/event-stream`, then `text/*`, then `*\/*`)
 * decides, and a quality of 0 means "not acceptable". A request without `Accept` accepts anything.
 *
 * Malformed ranges are ignored, and only the first 8 KiB of the header are read.
 *
 * @param request The request (or anything with `headers`).
 * @returns `true` if an event stream is acceptable.
 *
 * @example Answer 406 to clients that cannot read an event stream
 * ```ts
 * import { acceptsEventStream, sendEvents } from "sendevents";
 *
 * function handler(request: Request): Response {
 *   if (!acceptsEventStream(request)) {
 *     return new Response("This endpoint serves text/event-stream", { status: 406 });
 *   }
 *   const { response, target } = sendEvents(request);
 *   target.dispatchMessage("hello");
 *   return response;
 * }
 * ```
 */
export function acceptsEventStream(request: { readonly headers: Headers }): boolean {
  const header = request.headers.get("accept");
  if (header === null || header.trim() === "") return true;
  // Specificity: 3 exact, 2 text/*, 1 */*; 0 = no match yet.
  let best = 0;
  let quality = 0;
  for (const range of header.slice(0, MAX_ACCEPT_LENGTH).split(",")) {
    const parts = range.split(";");
    const mediaRange = parts[0]!.trim().toLowerCase();
    const slash = mediaRange.indexOf("/");
    if (slash <= 0) continue;
    const type = mediaRange.slice(0, slash);
    const subtype = mediaRange.slice(slash + 1);
    if (!TOKEN.test(type) || !TOKEN.test(subtype)) continue;
    let specificity: number;
    if (type === "text" && subtype === "event-stream") specificity = 3;
    else if (type === "text" && subtype === "*") specificity = 2;
    else if (type === "*" && subtype === "*") specificity = 1;
    else continue;
    let q = 1;
    let malformed = false;
    for (let i = 1; i < parts.length; i++) {
      const param = parts[i]!;
      const eq = param.indexOf("=");
      if (eq < 0) continue;
      if (param.slice(0, eq).trim().toLowerCase() !== "q") continue;
      const value = param.slice(eq + 1).trim();
      if (!QVALUE.test(value)) {
        malformed = true;
        break;
      }
      q = Number(value);
      break;
    }
    if (malformed) continue;
    // With equal specificity, the highest quality wins (a duplicate range should not veto).
    if (specificity > best || (specificity === best && q > quality)) {
      best = specificity;
      quality = q;
    }
  }
  return best > 0 && quality > 0;
}
