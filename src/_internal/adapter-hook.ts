/**
 * The hook through which an adapter that owns the socket (the Node adapter) serves event streams
 * without a web-stream hop. A request an adapter made carries an {@linkcode AdapterRequest} under
 * {@linkcode ADAPTER_REQUEST}; `sendEvents` then lets the adapter make the response and drain the
 * stream straight into the connection. Requests from anywhere else take the fetch path.
 *
 * @module
 */
import type { ServerSentEventTarget } from "../server-sent-event-target.ts";
import type { ConnectionUse } from "./stream-headers.ts";

/**
 * The property under which an adapter's request carries its {@linkcode AdapterRequest}. A
 * module-local `Symbol()`, never `Symbol.for`: with two copies of the package installed (a
 * duplicated dependency), a request from one copy's adapter must look like any `Request` to the
 * other copy's `sendEvents`, which then takes the fetch path; a shared key made it hand its
 * target to the other copy's adapter, which could not track it.
 */
export const ADAPTER_REQUEST: unique symbol = Symbol("sendevents.adapter-request");

/**
 * What an adapter offers `sendEvents` for the requests it made. One object serves all of an
 * adapter's requests, which it takes as their first argument.
 */
export interface AdapterRequest {
  /** A request header's value by its lower-case name, without building a `Headers`. */
  header(request: Request, name: string): string | null;
  /** How the request's connection is used, which decides `Connection` and `Keep-Alive`. */
  connection(request: Request): ConnectionUse;
  /**
   * The response for an event stream fed by `target`. The adapter drains the stream itself
   * (`streamOf(target).attach(sink)`) unless the response's body is read, and ends it with
   * `leave()` when the client leaves before the response has ended.
   *
   * @param headers The response headers, or `undefined` for the defaults of `use`.
   */
  respond(
    request: Request,
    target: ServerSentEventTarget,
    headers: Headers | undefined,
    use: ConnectionUse,
  ): Response;
}

/** The {@linkcode AdapterRequest} of `request`, if an adapter made it. */
export function adapterOf(request: Request): AdapterRequest | undefined {
  return (request as { [ADAPTER_REQUEST]?: AdapterRequest })[ADAPTER_REQUEST];
}
