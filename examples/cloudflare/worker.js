/**
 * The example app as a Cloudflare Worker, run by `wrangler.toml` at the top of the repository:
 *
 *   npm run build && npx wrangler dev
 *
 * (wrangler needs Node 22 or later.) Two settings make `close` fire on Workers, both in place:
 * the `enable_request_signal` compatibility flag, without which a Worker never learns that the
 * client left, and `ctx.waitUntil`, passed by the app to `sendEvents`, without which the
 * stream's timers stop once the handler returns.
 *
 * @module
 */
import app from "../shared/app.js";

export default {
  /**
   * @param {Request} request
   * @param {unknown} env
   * @param {{ waitUntil(promise: Promise<unknown>): void }} ctx
   */
  fetch(request, env, ctx) {
    return app.fetch(request, env, ctx);
  },
};
