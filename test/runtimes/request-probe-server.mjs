// A server for test/node-request.test.ts, run under each Node version: its handlers use the
// adapter's `Request` the way proxies and middleware do, and answer with what they saw.
// Listens on 127.0.0.1 and PORT, prints `listening on <url>`.
import { sendEvents } from "sendevents";
import { serve } from "sendevents/node";

let forwarded = false;
/** The signals of the last /signals request and of what was made from it. */
let signals;

async function probe(request) {
  const seen = { isRequest: request instanceof Request, url: request.url };
  const attempt = async (name, run) => {
    try {
      seen[name] = await run();
    } catch (error) {
      seen[name] = `threw ${error?.constructor?.name}: ${error?.message}`;
    }
  };
  await attempt("cloneCall", () => Request.prototype.clone.call(request).text());
  await attempt("urlGetter", () => Reflect.get(Request.prototype, "url", request) === request.url);
  await attempt("copyWithInit", async () => {
    const copy = new Request(request.clone(), { headers: { "x-probe": "changed" } });
    return `${copy.method} ${copy.url} ${copy.headers.get("x-probe")} ${await copy.text()}`;
  });
  await attempt("copy", async () => {
    // Takes the body, as new Request(request) does with any Request.
    const copy = new Request(request);
    return `${copy.method} ${copy.url} ${copy.headers.get("x-probe")} ${await copy.text()} ${request.bodyUsed}`;
  });
  return Response.json(seen);
}

/** V8's own answer, where the server runs with --allow-natives-syntax; `null` elsewhere. */
const hasFastProperties = (() => {
  try {
    return new Function("object", "return %HasFastProperties(object)");
  } catch {
    return () => null;
  }
})();

const server = await serve(
  async (request) => {
    const path = new URL(request.url).pathname;
    if (path === "/probe") return probe(request);
    if (path === "/shape") return Response.json({ fast: hasFastProperties(request) });
    if (path === "/headers") {
      // The fields as sent, in the query: what new Request makes of them is the reference.
      const sent = JSON.parse(new URL(request.url).searchParams.get("sent"));
      const list = (headers) => ({
        entries: [...headers],
        setCookie: headers.getSetCookie?.() ?? null,
      });
      return Response.json({
        seen: list(request.headers),
        copy: list(new Request(request).headers),
        reference: list(new Request("http://reference.invalid/", { headers: sent }).headers),
      });
    }
    if (path === "/signals") {
      // What proxies and middleware make of a request: each must abort when its client leaves.
      signals = {
        own: request.signal,
        copy: new Request(request).signal,
        init: new Request("http://upstream.invalid/", request).signal,
        clone: request.clone().signal,
        cloneCall: Request.prototype.clone.call(request).signal,
      };
      return sendEvents(request).response;
    }
    if (path === "/signals/report") {
      const report = {};
      for (const [name, signal] of Object.entries(signals ?? {})) {
        report[name] = signal.aborted ? (signal.reason?.name ?? "aborted") : "open";
      }
      return Response.json(report);
    }
    if (path === "/forward") {
      // The second hop answers: fetch(request) sends the very same request again.
      if (forwarded) {
        forwarded = false;
        return Response.json({
          method: request.method,
          probe: request.headers.get("x-probe"),
          body: await request.text(),
        });
      }
      forwarded = true;
      const upstream = await fetch(request);
      return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
    }
    return new Response("not found", { status: 404 });
  },
  { port: Number(process.env.PORT ?? 0), hostname: "127.0.0.1" },
);
console.log(`listening on ${server.url}`);
