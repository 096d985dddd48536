// Serves the bundled test app (path in the first argument) as a module worker on workerd, through
// Miniflare (which needs Node >= 22: run this file with test/runtimes/node-versions' node22).
import { readFileSync } from "node:fs";
import { Miniflare } from "miniflare";

const mf = new Miniflare({
  // Given as contents: a path outside the working directory is refused ("can't use '..'").
  modules: [
    { type: "ESModule", path: "worker.mjs", contents: readFileSync(process.argv[2], "utf8") },
  ],
  compatibilityDate: "2025-09-01",
  // request.signal aborts when the client leaves only with this flag; without it a silent stream
  // notices at its next keep-alive write.
  compatibilityFlags: ["enable_request_signal"],
  host: "127.0.0.1",
  port: 0,
});
const url = await mf.ready;
console.log(`listening on ${url.href}`);
const stop = async () => {
  await mf.dispose();
  process.exit(0);
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
