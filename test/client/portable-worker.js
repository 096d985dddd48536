// Runs test/client/portable.js in workerd: GET /?base=<client app URL> answers its result as JSON.
import { exercise } from "./portable.js";

export default {
  /** @param {Request} request */
  async fetch(request) {
    const base = new URL(request.url).searchParams.get("base");
    if (base === null) return new Response("?base= is required\n", { status: 400 });
    return Response.json(await exercise(base));
  },
};
