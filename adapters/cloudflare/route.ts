import type { ChannelNamespace } from "./types.ts";

/** The default {@linkcode RouteChannelOptions.prefix}. */
const DEFAULT_PREFIX = "/rooms/";
/** The longest channel name {@linkcode routeChannel} accepts, in UTF-16 code units. */
export const MAX_CHANNEL_NAME_LENGTH = 256;
const CONTROL = /[\u0000-\u001f\u007f]/;
const PREFIX = /^\/(?:[^/?#]+\/)*$/;

/** What an {@linkcode RouteChannelOptions.authorize} hook answers. */
export type AuthorizeResult = boolean | Response;

/** Options for {@linkcode routeChannel}. */
export interface RouteChannelOptions {
  /**
   * The path under which channels live: `<prefix><name>/events` streams, `<prefix><name>`
   * broadcasts. Starts and ends with `/`.
   * @default "/rooms/"
   */
  prefix?: string;
  /**
   * Decides, before the object is reached, whether this request may stream (`GET`, `HEAD`) or
   * broadcast (`POST`) on `channel`: `true` lets it through; `false` answers `403 Forbidden`; a
   * `Response` (a `401` with `WWW-Authenticate`, say) is answered as it is. Either way a refused
   * request never reaches the object: no member is registered, no stream opened, no history
   * read. A hook that throws makes `routeChannel` reject.
   */
  authorize?: (request: Request, channel: string) => AuthorizeResult | Promise<AuthorizeResult>;
}

/** A channel route: the channel's name and what the request does on it. */
interface Route {
  readonly name: string;
  readonly action: "stream" | "broadcast";
}

function describeValue(value: unknown): string {
  if (typeof value === "string") {
    return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}...` : value);
  }
  return value === null ? "null" : typeof value;
}

/** The route of `pathname` under `prefix`, `null` if it is not one, `"bad"` for a bad name. */
function parse(pathname: string, prefix: string): Route | null | "bad" {
  if (!pathname.startsWith(prefix)) return null;
  const rest = pathname.slice(prefix.length);
  const slash = rest.indexOf("/");
  let raw: string;
  let action: Route["action"];
  if (slash === -1) {
    raw = rest;
    action = "broadcast";
  } else if (rest.slice(slash) === "/events") {
    raw = rest.slice(0, slash);
    action = "stream";
  } else {
    return null;
  }
  if (raw === "") return null;
  // The path is not decoded for us: a name is one segment, percent-encoded as it needs. Invalid
  // UTF-8 (a lone surrogate among it) makes decodeURIComponent throw.
  if (raw.length > MAX_CHANNEL_NAME_LENGTH * 3) return "bad";
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    return "bad";
  }
  if (name.length > MAX_CHANNEL_NAME_LENGTH || CONTROL.test(name)) {
    return "bad";
  }
  return { name, action };
}

/**
 * Routes a Worker's request to the Durable Object of its channel, by name (`idFromName`):
 * `GET <prefix><name>/events` opens an event stream (resuming after `Last-Event-ID`), `POST
 * <prefix><name>` broadcasts the body (the `type` query parameter names the event type). The
 * object answers (see `ChannelObject`); the client's leaving reaches it through the stub.
 *
 * A name is one path segment, percent-decoded: 1 to 256 characters, no control characters (a
 * name that is not is answered `400`). Names are not secrets: anyone who may `authorize` for a
 * name reaches that name's object, and no other.
 *
 * @param request The Worker's request.
 * @param namespace The Durable Object namespace binding of a `ChannelObject` class
 *   (`env.ROOMS`).
 * @param options `prefix` and `authorize`.
 * @returns The object's response, the `authorize` hook's refusal (`403`, or its own), `400` for a
 *   bad name, `405` for a method the route does not take; or `undefined` when the path is not a
 *   channel route, so the Worker can answer it another way.
 * @throws {TypeError} If `request` is not a Request, `namespace` is not a namespace binding,
 *   `prefix` does not start and end with `/`, or `authorize` is not a function or answers
 *   something other than a boolean or a `Response`.
 *
 * @example Only signed-in users may listen; only the server may broadcast
 * ```ts
 * import { type ChannelObject, routeChannel } from "sendevents/cloudflare";
 *
 * interface Env { ROOMS: DurableObjectNamespace<ChannelObject>; TOKEN: string }
 *
 * export default {
 *   async fetch(request: Request, env: Env): Promise<Response> {
 *     const routed = await routeChannel(request, env.ROOMS, {
 *       authorize(request) {
 *         if (request.method === "POST") return request.headers.get("authorization") === `Bearer ${env.TOKEN}`;
 *         if (!request.headers.get("cookie")?.includes("session=")) {
 *           return new Response("Sign in first", { status: 401 });
 *         }
 *         return true;
 *       },
 *     });
 *     return routed ?? new Response("Not Found", { status: 404 });
 *   },
 * };
 * ```
 */
export async function routeChannel(
  request: Request,
  namespace: ChannelNamespace,
  options: RouteChannelOptions = {},
): Promise<Response | undefined> {
  const action = "Cannot route channel request";
  if (typeof (request as Partial<Request> | null)?.url !== "string") {
    throw new TypeError(`${action}: expected a Request, received ${describeValue(request)}`);
  }
  const ns = namespace as Partial<ChannelNamespace> | null;
  if (typeof ns?.idFromName !== "function" || typeof ns.get !== "function") {
    throw new TypeError(
      `${action}: "namespace" must be a Durable Object namespace binding (env.ROOMS), received ${describeValue(namespace)}`,
    );
  }
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== "string" || !PREFIX.test(prefix)) {
    throw new TypeError(
      `${action}: "prefix" must be a path that starts and ends with "/", received ${describeValue(prefix)}`,
    );
  }
  const { authorize } = options;
  if (authorize !== undefined && typeof authorize !== "function") {
    throw new TypeError(
      `${action}: "authorize" must be a function, received ${describeValue(authorize)}`,
    );
  }
  const route = parse(new URL(request.url).pathname, prefix);
  if (route === null) return undefined;
  if (route === "bad") {
    return new Response(
      `A channel name is 1 to ${MAX_CHANNEL_NAME_LENGTH} characters, with no control characters\n`,
      { status: 400, headers: { "content-type": "text/plain; charset=utf-8" } },
    );
  }
  const method = request.method;
  const allowed = route.action === "stream" ? ["GET", "HEAD"] : ["POST"];
  if (!allowed.includes(method)) {
    return new Response("Method Not Allowed\n", {
      status: 405,
      headers: { allow: allowed.join(", "), "content-type": "text/plain; charset=utf-8" },
    });
  }
  if (authorize !== undefined) {
    const verdict = await authorize(request, route.name);
    if (verdict instanceof Response) return verdict;
    if (verdict === false) {
      return new Response("Forbidden\n", {
        status: 403,
        headers: { "content-type": "text/plain; charset=utf-8" },
      });
    }
    if (verdict !== true) {
      throw new TypeError(
        `${action}: "authorize" must answer true, false or a Response, received ${describeValue(verdict)}`,
      );
    }
  }
  const stub = namespace.get(namespace.idFromName(route.name));
  return await stub.fetch(request);
}
