/**
 * The head of a response on Node: the fetch `Headers` in Node's form, and which fields the
 * connection forbids. An event stream's own defaults come from `src/_internal/stream-headers.ts`,
 * made for the connection they go on; what is dropped here is what no response may carry on it
 * (a handler's `Connection` over HTTP/2, a `Keep-Alive` on a connection that ends).
 *
 * @module
 */

import type * as http from "node:http";
import type * as http2 from "node:http2";
import {
  CONNECTION_HEADERS,
  type ConnectionUse,
  defaultStreamHeaders,
} from "../../src/_internal/stream-headers.ts";
import type { NodeRequest, NodeResponse } from "../node.ts";

export { CONNECTION_HEADERS };

/**
 * The header fields dropped from a response on a connection that ends with it (the client sent
 * `Connection: close`, or HTTP/1.0 without keep-alive): Node then writes `Connection: close` itself
 * and closes the socket once the response has ended (RFC 9112 §9.6). A `Connection: Keep-Alive`
 * from the handler (an event stream's default) would make Node keep it open instead.
 */
const KEEP_ALIVE_HEADERS: ReadonlySet<string> = new Set(["connection", "keep-alive"]);

/** Node's form of `headers`, without the header fields in `drop`. */
export function nodeHeaders(
  headers: Headers,
  drop: ReadonlySet<string> | undefined,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of headers) {
    if (drop?.has(name)) continue;
    if (name === "set-cookie") out[name] = headers.getSetCookie();
    else out[name] = value;
  }
  return out;
}

/** An event stream's default headers in Node's form, made once for each use of a connection. */
const DEFAULT_NODE_HEADERS: Readonly<
  Record<ConnectionUse, Readonly<Record<string, string | string[]>>>
> = {
  "keep-alive": Object.freeze(nodeHeaders(defaultStreamHeaders("keep-alive"), undefined)),
  close: Object.freeze(nodeHeaders(defaultStreamHeaders("close"), undefined)),
  http2: Object.freeze(nodeHeaders(defaultStreamHeaders("http2"), undefined)),
};

/**
 * How `req`'s connection is used (see `ConnectionUse`): an event stream has no length, so over
 * HTTP/1.0 (no chunked coding) only the end of the connection ends it.
 */
export function connectionUse(req: NodeRequest): ConnectionUse {
  if (req.httpVersionMajor >= 2) return "http2";
  if (req.httpVersionMinor === 0) return "close";
  const connection = req.headers.connection;
  return connection !== undefined && /(?:^|,)\s*close\s*(?:,|$)/i.test(connection)
    ? "close"
    : "keep-alive";
}

/**
 * The header fields to drop from a response to `req`: HTTP/1.1's connection headers over HTTP/2;
 * `Connection` and `Keep-Alive` when the connection ends with this response. An event stream has
 * no length, so over HTTP/1.0 (no chunked coding) only the end of the connection ends it.
 */
export function droppedHeaders(
  req: NodeRequest,
  res: NodeResponse,
  stream: boolean,
): ReadonlySet<string> | undefined {
  if (req.httpVersionMajor >= 2) return CONNECTION_HEADERS;
  if ((res as http.ServerResponse).shouldKeepAlive === false) return KEEP_ALIVE_HEADERS;
  if (stream && req.httpVersionMinor === 0) return KEEP_ALIVE_HEADERS;
  return undefined;
}

/** An event stream's head, in Node's form. */
export function streamHead(
  headers: Headers | undefined,
  drop: ReadonlySet<string> | undefined,
): Readonly<Record<string, string | string[]>> {
  if (headers !== undefined) return nodeHeaders(headers, drop);
  if (drop === undefined) return DEFAULT_NODE_HEADERS["keep-alive"];
  return drop === CONNECTION_HEADERS ? DEFAULT_NODE_HEADERS.http2 : DEFAULT_NODE_HEADERS.close;
}

export function writeHead(
  res: NodeResponse,
  status: number,
  statusText: string,
  headers: Record<string, string | string[]>,
  isHttp2: boolean,
): void {
  // HTTP/2 has no reason phrase; Node warns if one is given.
  if (isHttp2) (res as http2.Http2ServerResponse).writeHead(status, headers);
  else (res as http.ServerResponse).writeHead(status, statusText || undefined, headers);
}

/** The last head {@linkcode keepHead} kept: the one string that responses with its bytes share. */
let lastHead: string | undefined;
/**
 * The longest head kept for sharing (an event stream's is some 250 bytes): a handler's huge head
 * is not held past its response.
 */
const MAX_SHARED_HEAD = 1024;

/**
 * Keeps the head that Node holds on an HTTP/1 response for its whole life (`_header`, the status
 * line and fields joined one by one) in as little heap as it can: one string for every response
 * whose head has the same bytes as the last one's, else a flat string. Event streams made in the
 * same second have the same head (`Date` is the one field that moves), so a burst of clients
 * shares one: each would hold some 250 bytes of its own (measured, Node 20). The string is the
 * same bytes, so what Node writes is the same. A flat one: V8 keeps a joined string as a tree of
 * its parts until something reads it as a whole; for an event stream's head that tree held some
 * 830 bytes of heap, and the flat string 200. Reading one character flattens it in place. (HTTP/2
 * responses keep no such string.)
 */
export function keepHead(res: NodeResponse): void {
  const holder = res as { _header?: unknown };
  const head = holder._header;
  if (typeof head !== "string") return;
  if (head === lastHead) holder._header = lastHead;
  else {
    head.charCodeAt(0);
    if (head.length <= MAX_SHARED_HEAD) lastHead = head;
  }
}
