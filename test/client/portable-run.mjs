// Runs test/client/portable.js on this runtime (Node, Deno or Bun) against the client app at the
// URL in the first argument, and prints the result as JSON.
import { exercise } from "./portable.js";

const base = globalThis.Deno?.args[0] ?? globalThis.process.argv[2];
console.log(JSON.stringify(await exercise(base)));
