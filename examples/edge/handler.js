/**
 * The example app as an edge function (the Vercel / Next.js edge runtime): a default-exported
 * handler that gets a `Request` and returns a `Response`, with `waitUntil` on its context.
 *
 * Run it locally in `@edge-runtime/vm` with `npm run build && node examples/edge/server.js`.
 *
 * @module
 */
import app from "../shared/app.js";

export const config = { runtime: "edge" };

/**
 * @param {Request} request
 * @param {{ waitUntil(promise: Promise<unknown>): void }} [context]
 * @returns {Response}
 */
export default function handler(request, context) {
  return app.fetch(request, undefined, context);
}
