// The sources import each other as `./x.ts` so Deno and JSR can read them as they are.
// `rewriteRelativeImportExtensions` turns those into `./x.js` in the emitted JavaScript,
// but TypeScript (5.9 and 7) leaves `./x.ts` in the declaration files. This rewrites
// the relative specifiers of every `.d.ts` under dist/ to `.js`, the file npm consumers get.
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

const root = new URL("../dist/", import.meta.url).pathname;
const specifier = /(\bfrom\s*|\bimport\s*\(\s*|^\s*import\s*)(["'])(\.{1,2}\/[^"'\n]+)\.ts\2/gm;

let files = 0;
for (const entry of await readdir(root, { recursive: true })) {
  if (!entry.endsWith(".d.ts")) continue;
  const path = join(root, entry);
  const text = await readFile(path, "utf8");
  const rewritten = text.replace(
    specifier,
    (_, lead, quote, base) => `${lead}${quote}${base}.js${quote}`,
  );
  if (rewritten !== text) {
    await writeFile(path, rewritten);
    files++;
  }
}
// Anything left means a specifier form the pattern above does not know.
for (const entry of await readdir(root, { recursive: true })) {
  if (!entry.endsWith(".d.ts")) continue;
  const text = await readFile(join(root, entry), "utf8");
  const left = text.match(/["']\.{1,2}\/[^"'\n]+\.ts["']/);
  if (left) throw new Error(`dist/${entry} still imports ${left[0]}`);
}
console.log(`dts-extensions: ${files} declaration files now import .js`);

// The declarations of internal modules (`_internal/`, `_node/`, `_redis/`) are not published:
// no public declaration reaches them (`scripts/check-modules.mjs` checks it), and a consumer's
// type check would fail at once if one did.
let internal = 0;
for (const entry of await readdir(root, { recursive: true })) {
  if (entry.endsWith(".d.ts") && entry.split(/[\\/]/).some((part) => part.startsWith("_"))) {
    await rm(join(root, entry));
    internal++;
  }
}
console.log(`dts-extensions: ${internal} internal declaration files left out`);
