// package.json holds the version; deno.json (JSR) copies it. `npm version` runs this
// (the "version" script) so both move together; test/jsr.test.ts fails if they differ.
import { readFile, writeFile } from "node:fs/promises";

const pkg = JSON.parse(await readFile(new URL("../package.json", import.meta.url), "utf8"));
const denoUrl = new URL("../deno.json", import.meta.url);
const text = await readFile(denoUrl, "utf8");
const deno = JSON.parse(text);
if (deno.version !== pkg.version) {
  deno.version = pkg.version;
  await writeFile(denoUrl, `${JSON.stringify(deno, null, 2)}\n`);
  console.log(`deno.json: version ${pkg.version}`);
}
