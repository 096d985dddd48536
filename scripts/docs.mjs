// `npm run docs`: the API reference, from the doc comments, into docs/api/ (git-ignored).
//
// `deno doc --html` names each module by its file (`src/index.ts`) and writes its usage as
// `import { x } from "src/index.ts"`, which no user can write, and it leaves the index page empty
// when there are several entry points. So this names each module by its subpath, as users import
// it, and gives the index page the list of entry points with the summary of each `@module` block.
// `--sloppy-imports`: the sources import `./x.js` for `.ts` files, as tsc wants.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const OUT = join(ROOT, "docs", "api");
const DENO = join(ROOT, "node_modules", ".bin", "deno");

/** Each entry point, by the `exports` of package.json it is built for. */
const ENTRIES = [
  ["src/index.ts", "sendevents"],
  ["src/client/index.ts", "sendevents/client"],
  ["adapters/node.ts", "sendevents/node"],
  ["adapters/hono.ts", "sendevents/hono"],
  ["adapters/redis.ts", "sendevents/redis"],
];

rmSync(OUT, { recursive: true, force: true });
execFileSync(
  DENO,
  [
    "doc",
    "--html",
    "--sloppy-imports",
    "--name=sendevents",
    `--output=${OUT}`,
    ...ENTRIES.map(([file]) => file),
  ],
  { cwd: ROOT, stdio: ["ignore", "inherit", "pipe"] },
);

/** The first paragraph of a file's `@module` comment, as plain text. */
function summary(file) {
  const text = readFileSync(join(ROOT, file), "utf8");
  const block = /\/\*\*([\s\S]*?)\*\//.exec(text)?.[1] ?? "";
  const lines = block.split("\n").map((line) => line.replace(/^\s*\* ?/, ""));
  const paragraph = [];
  for (const line of lines) {
    if (line.trim() === "") {
      if (paragraph.length > 0) break;
      continue;
    }
    if (line.startsWith("@")) break;
    paragraph.push(line.trim());
  }
  return paragraph.join(" ").replace(/\{@link(?:code)? ([^}]+)\}/g, "`$1`");
}

/** Markdown's code spans in HTML, everything else escaped. */
function toHtml(text) {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/`([^`]+)`/g, "<code>$1</code>");
}

/** Replaces every display of a module's file name (not the links) by its subpath. */
function rename(html) {
  for (const [file, name] of ENTRIES) {
    const encoded = file.replaceAll("/", "&#x2F;");
    html = html
      .replaceAll(`>${encoded}<`, `>${name}<`)
      .replaceAll(`&quot;${file}&quot;`, `&quot;${name}&quot;`)
      .replaceAll(`>${file}<`, `>${name}<`)
      .replaceAll(` - ${file} - `, ` - ${name} - `)
      .replaceAll(`"file":"${file}"`, `"file":"${name}"`);
  }
  return html;
}

for (const entry of readdirSync(OUT, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !/\.(html|js)$/.test(entry.name)) continue;
  const path = join(entry.parentPath, entry.name);
  const html = readFileSync(path, "utf8");
  const renamed = rename(html);
  if (renamed !== html) writeFileSync(path, renamed);
}

const index = join(OUT, "index.html");
const list = ENTRIES.map(
  ([file, name]) =>
    `<li><a class="link" href="./${file}/index.html"><code>${name}</code></a>: ${toHtml(summary(file).replace(`\`${name}\`: `, ""))}</li>`,
).join("\n");
writeFileSync(
  index,
  readFileSync(index, "utf8").replace(
    "<main></main>",
    `<main><div class="markdown"><h2>Entry points</h2><ul>\n${list}\n</ul></div></main>`,
  ),
);
console.log(`The API reference is in ${join("docs", "api", "index.html")}`);
