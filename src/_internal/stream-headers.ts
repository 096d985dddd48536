/**
 * An event stream's response headers: the one place that decides them, `Connection` and
 * `Keep-Alive` included. Each path says how the connection carrying the stream is used, which
 * only it knows: the fetch path from the request's `Connection` header, the Node adapter from
 * Node's own view of the connection, `sendevents/hono` from `@hono/node-server`'s request.
 *
 * @module
 */

import { DEFAULT_HEADERS } from "../default-headers.ts";
import type { HeadersInit } from "../web-types.ts";

/**
 * How the connection that carries a stream is used:
 * - `"keep-alive"`: HTTP/1.1, persistent: every default, `Connection: Keep-Alive` included;
 * - `"close"`: the connection ends with this response (the client sent `Connection: close`, or
 *   spoke HTTP/1.0): no default `Connection` or `Keep-Alive`, which would make a server such as
 *   node:http keep it open once the stream ends (RFC 9112 §9.6); the caller's own are kept;
 * - `"http2"`: HTTP/2 or later, where connection-specific fields are malformed (RFC 9113 §8.2.2):
 *   none, not even the caller's.
 */
export type ConnectionUse = "keep-alive" | "close" | "http2";

/** Fields that describe one HTTP/1.1 connection, forbidden in HTTP/2. */
export const CONNECTION_HEADERS: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

/**
 * The response headers of an event stream: the defaults the connection allows, with the caller's
 * over them (a caller header replaces the default of the same name; every `Set-Cookie` is kept).
 *
 * @throws {TypeError} If `extra` is malformed.
 */
export function streamHeaders(extra: HeadersInit | undefined, use: ConnectionUse): Headers {
  const headers = new Headers(DEFAULT_HEADERS);
  if (use !== "keep-alive") {
    headers.delete("connection");
    headers.delete("keep-alive");
  }
  if (extra !== undefined) {
    const own = new Headers(extra);
    for (const name of new Set(own.keys())) {
      if (use === "http2" && CONNECTION_HEADERS.has(name)) continue;
      if (name === "set-cookie") {
        headers.delete(name);
        for (const cookie of own.getSetCookie()) headers.append(name, cookie);
      } else {
        headers.set(name, own.get(name)!);
      }
    }
  }
  return headers;
}

const shared = new Map<ConnectionUse, Headers>();

/**
 * One `Headers` with the defaults for `use`, for `new Response` to copy (faster than from a
 * record on every runtime we measured: 3× on Bun). Never handed out, so never changed; made on
 * first use, so that importing the module builds nothing.
 */
export function defaultStreamHeaders(use: ConnectionUse): Headers {
  let headers = shared.get(use);
  if (headers === undefined) {
    headers = streamHeaders(undefined, use);
    shared.set(use, headers);
  }
  return headers;
}

/** Whether a request's `Connection` header holds the `close` option (RFC 9112 §9.6). */
export function asksToClose(connection: string | null | undefined): boolean {
  if (connection === null || connection === undefined) return false;
  for (const option of connection.split(",")) {
    if (option.trim().toLowerCase() === "close") return true;
  }
  return false;
}
