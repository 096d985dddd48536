/**
 * The Hono example app as a Cloudflare Worker. A Hono app is a Worker as it is: Hono passes the
 * Worker's `ctx` to `sendevents/hono`, which registers each stream with `ctx.waitUntil`, so its
 * keep-alives run and `close` fires after the handler has returned.
 *
 *   npm run build && npx wrangler dev -c examples/hono/wrangler.toml
 *   npx wrangler deploy -c examples/hono/wrangler.toml
 *
 * (wrangler needs Node 22 or later.) Keep the `enable_request_signal` compatibility flag of
 * `examples/hono/wrangler.toml`: without it a Worker is not told that the client left.
 *
 * @module
 */
import app from "./app.js";

export default app;
