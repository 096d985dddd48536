// Every example runs: the `@example` blocks of the doc comments in src/ and adapters/, and every
// `ts` block of README.md, are written one per file into a temporary package that depends on
// this one, type-checked there by `tsc` against the built `dist/` through the package's own
// `exports` (as a user's code would be), and those that can run on their own are run, each in
// its own Node process, with a real `Request` and no network but loopback.
//
// An extractor of ours rather than `deno test --doc`, which would check the examples against the
// sources, not against what the package exports. `deno doc --lint` runs on every entry point.
import { execFile } from "node:child_process";
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { transformSync } from "esbuild";
import { afterAll, describe, expect, test } from "vitest";

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL("..", import.meta.url));
const TSC = join(ROOT, "node_modules", "typescript", "bin", "tsc");
const DENO = join(ROOT, "node_modules", ".bin", "deno");

interface Example {
  /** Where it comes from: `src/channel.ts:155` or `README.md:42`. */
  where: string;
  title: string;
  code: string;
  file: string;
}

/**
 * Names that README examples use without defining them: the application's own code around the
 * snippet. Declared here (and only here) so the rest of each example is checked for real.
 */
const AMBIENT = `
declare const output: HTMLElement;
declare function getFreshToken(): Promise<string>;
declare function render(metrics: { cpu: number; memory: number }): void;
declare function reloadState(): void;
declare function showBanner(text: string): void;
/** Cloudflare's, from @cloudflare/workers-types (which cannot share a program with the DOM's). */
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
  passThroughOnException(): void;
}
`;

/** Modules that README examples import from the application: small honest stand-ins. */
const STUBS: Record<string, string> = {
  "ex/app.ts": `import { sendEvents, ServerSentEvent } from "sendevents";
export function handler(request: Request): Response {
  const { response, target } = sendEvents(request);
  target.dispatchEvent(new ServerSentEvent("hello", "world"));
  target.dispatchEvent(new ServerSentEvent("price", { symbol: "ACME", value: 42 }));
  return response;
}
`,
  "server/events.ts": `export interface DashboardEvents {
  metrics: { cpu: number; memory: number };
  alert: { level: "warning" | "critical"; text: string };
}
`,
};

/**
 * Workers code: an example that imports sendevents/cloudflare (or cloudflare:workers) is checked
 * in a program of its own with @cloudflare/workers-types, whose globals cannot share one with the
 * DOM's, and is not run (it needs workerd: test/cloudflare/ runs it there).
 */
const WORKERS = /from "(?:sendevents\/cloudflare|cloudflare:workers)"/;

/** What keeps an example from running on its own: it is then type-checked only. */
const NOT_RUNNABLE: [RegExp, string][] = [
  [/\bport: \d|\.listen\(\d/, "listens on a fixed port"],
  [/\bconnect\b[<(]/, "connects to a server it does not start"],
  [/\bfetch\("https?:/, "fetches from the network"],
  [/\bcreateClient\(/, "needs a Redis server"],
  [/^declare /m, "declares what it stands for (types only)"],
  [/from "vitest"/, "is a test for vitest"],
  [WORKERS, "runs in workerd only"],
  [/from "\.\.?\//, "imports the application's modules"],
  [/\b(output|getFreshToken|render|reloadState|showBanner)\b/, "uses the application's code"],
];

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith(".ts"))
    .map((entry) => relative(ROOT, join(entry.parentPath, entry.name)))
    .sort();
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "")
    .slice(0, 40);
}

/** The `@example` blocks of one file's doc comments. */
function docExamples(path: string): Omit<Example, "file">[] {
  const lines = readFileSync(join(ROOT, path), "utf8").split("\n");
  const found: Omit<Example, "file">[] = [];
  for (let i = 0; i < lines.length; i++) {
    const title = /^\s*\*\s*@example\s*(.*)$/.exec(lines[i]!)?.[1];
    if (title === undefined) continue;
    let start = i + 1;
    while (start < lines.length && !/^\s*\*\s*```(ts|typescript)\s*$/.test(lines[start]!)) {
      if (/^\s*\*\//.test(lines[start]!) || /^\s*\*\s*@/.test(lines[start]!)) break;
      start++;
    }
    if (!/```/.test(lines[start] ?? "")) {
      throw new Error(`${path}:${i + 1}: @example "${title}" has no \`\`\`ts block`);
    }
    const body: string[] = [];
    let end = start + 1;
    for (; end < lines.length && !/^\s*\*\s*```\s*$/.test(lines[end]!); end++) {
      body.push(lines[end]!.replace(/^\s*\* ?/, ""));
    }
    found.push({ where: `${path}:${i + 1}`, title: title.trim(), code: body.join("\n") });
    i = end;
  }
  return found;
}

/** The `ts` code blocks of README.md, each titled by the heading above it. */
function readmeExamples(): Omit<Example, "file">[] {
  const lines = readFileSync(join(ROOT, "README.md"), "utf8").split("\n");
  const found: Omit<Example, "file">[] = [];
  let heading = "README";
  for (let i = 0; i < lines.length; i++) {
    const h = /^#+\s+(.*)$/.exec(lines[i]!);
    if (h) heading = h[1]!;
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue;
    const body: string[] = [];
    let end = i + 1;
    for (; end < lines.length && lines[end] !== "```"; end++) body.push(lines[end]!);
    found.push({ where: `README.md:${i + 1}`, title: heading, code: body.join("\n") });
    i = end;
  }
  return found;
}

const examples: Example[] = [
  ...[...sourceFiles("src"), ...sourceFiles("adapters")].flatMap(docExamples),
  ...readmeExamples(),
].map((example, index) => ({
  ...example,
  file: `${WORKERS.test(example.code) ? "ex-workers" : "ex"}/${String(index).padStart(2, "0")}-${slug(example.where)}.ts`,
}));

const dir = mkdtempSync(join(tmpdir(), "sendevents-doc-examples-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function setUp(): void {
  mkdirSync(join(dir, "ex"));
  mkdirSync(join(dir, "ex-workers"));
  mkdirSync(join(dir, "server"));
  mkdirSync(join(dir, "node_modules"));
  // The package itself, so "sendevents/..." resolves through its package.json's exports.
  symlinkSync(ROOT, join(dir, "node_modules", "sendevents"), "dir");
  for (const name of ["hono", "redis", "@redis", "vitest", "@types", "@cloudflare"]) {
    symlinkSync(join(ROOT, "node_modules", name), join(dir, "node_modules", name), "dir");
  }
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module", private: true }));
  writeFileSync(
    join(dir, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        lib: ["ES2022", "DOM", "DOM.Iterable"],
        types: ["node"],
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        verbatimModuleSyntax: true,
        allowImportingTsExtensions: true,
        noEmit: true,
        skipLibCheck: true,
      },
      include: ["ambient.d.ts", "ex", "server"],
    }),
  );
  writeFileSync(
    join(dir, "tsconfig.workers.json"),
    JSON.stringify({
      extends: "./tsconfig.json",
      compilerOptions: { lib: ["ES2022"], types: ["@cloudflare/workers-types"] },
      include: ["ex-workers"],
    }),
  );
  writeFileSync(join(dir, "ambient.d.ts"), AMBIENT);
  for (const [path, text] of Object.entries(STUBS)) writeFileSync(join(dir, path), text);
  for (const example of examples) {
    // `export {}` keeps an example without imports a module, its names its own.
    writeFileSync(join(dir, example.file), `${example.code}\nexport {};\n`);
  }
}
setUp();

/** A child process's output, whether it succeeded or failed. */
async function output(
  file: string,
  args: string[],
  timeout: number,
): Promise<{ ok: boolean; text: string }> {
  try {
    const { stdout, stderr } = await run(file, args, { cwd: dir, timeout });
    return { ok: true, text: stdout + stderr };
  } catch (error) {
    const { stdout = "", stderr = "", message } = error as Error & Record<string, string>;
    return { ok: false, text: `${stdout}${stderr}` || message };
  }
}

// Calls what the example exports (`handler`, or a default export with `fetch`) with a real
// Request, checks that the answer is a streaming 200 whose body starts at once, and cancels it.
const DRIVER = `
const mod = await import(process.argv[2]);
const handle = typeof mod.handler === "function" ? mod.handler
  : typeof mod.default?.fetch === "function" ? (r) => mod.default.fetch(r, {}, { waitUntil() {}, passThroughOnException() {} })
  : undefined;
if (handle !== undefined) {
  for (const path of ["/", "/clock"]) {
    const response = await handle(new Request("http://localhost" + path, { headers: { accept: "text/event-stream" } }));
    if (response.status === 404) continue;
    if (response.status !== 200 || response.headers.get("content-type") !== "text/event-stream") {
      throw new Error("expected a 200 event stream, got " + response.status + " " + response.headers.get("content-type"));
    }
    const reader = response.body.getReader();
    const first = await Promise.race([reader.read(), new Promise((_, reject) => setTimeout(() => reject(new Error("no byte within 2 s")), 2000))]);
    if (first.done) throw new Error("the stream ended before its first byte");
    await reader.cancel();
    break;
  }
}
process.exit(0);
`;

describe("doc examples", () => {
  test("there are examples in the doc comments and in README.md", () => {
    expect(examples.filter((e) => e.where.startsWith("README")).length).toBeGreaterThan(5);
    expect(examples.filter((e) => !e.where.startsWith("README")).length).toBeGreaterThan(20);
  });

  test("every example type-checks against the built package", { timeout: 60_000 }, async () => {
    const checks = await Promise.all(
      ["tsconfig.json", "tsconfig.workers.json"].map((config) =>
        output(process.execPath, [TSC, "-p", config], 55_000),
      ),
    );
    const ok = checks.every((check) => check.ok);
    const text = checks.map((check) => check.text).join("\n");
    // Each error, named by where the example comes from and the line in it.
    const errors = text
      .split("\n")
      .filter((line) => /error TS/.test(line))
      .map((line) => {
        const match = /^(ex(?:-workers)?\/[^(]+)\((\d+),(\d+)\): (.*)$/.exec(line);
        const example = examples.find((e) => e.file === match?.[1]);
        return example && match
          ? `${example.where} "${example.title}", line ${match[2]} of the example: ${match[4]}`
          : line;
      });
    expect(errors).toEqual([]);
    expect(ok, text).toBe(true);
  });

  const runnable = examples.filter(
    (example) => !NOT_RUNNABLE.some(([pattern]) => pattern.test(example.code)),
  );
  test.each(runnable.map((example) => [`${example.where} (${example.title})`, example] as const))(
    "%s runs",
    { timeout: 10_000 },
    async (_name, example) => {
      const js = transformSync(readFileSync(join(dir, example.file), "utf8"), {
        loader: "ts",
        format: "esm",
        target: "es2022",
      }).code;
      const module = join(dir, example.file.replace(/\.ts$/, ".mjs"));
      writeFileSync(module, js);
      const driver = join(dir, `${example.file}.driver.mjs`);
      writeFileSync(driver, DRIVER);
      // Within 5 s: an example that hangs (a `close()` awaited on a body nobody reads) fails.
      const { ok, text } = await output(process.execPath, [driver, module], 5_000);
      expect(ok, `${example.where}: ${text}`).toBe(true);
    },
  );

  test("deno doc --lint finds nothing to fix on any entry point", {
    timeout: 60_000,
  }, async () => {
    const entries = [
      "src/index.ts",
      "src/client/index.ts",
      "adapters/node.ts",
      "adapters/hono.ts",
      "adapters/redis.ts",
    ];
    const { ok, text } = await output(
      DENO,
      ["doc", "--lint", ...entries.map((entry) => join(ROOT, entry))],
      55_000,
    );
    const plain = text.replace(/\x1b\[[0-9;]*m/g, "");
    const problems = [...plain.matchAll(/^error\[([a-z-]+)\]: (.*)\n\s*--> (\S+)/gm)].map(
      ([, rule, message, at]) => `${rule}: ${message} (${relative(ROOT, at!)})`,
    );
    // A failed run must have been read as problems, or the run itself failed.
    if (!ok) expect(problems.length, plain).toBeGreaterThan(0);
    // Clean: every public symbol documented, and no private type in a public signature. The one
    // exception is Hono's own types in sendevents/hono's signatures: re-exporting them would make
    // the lint document (and fail on) Hono's declarations, which are not ours to fix.
    const ours = problems.filter(
      (problem) =>
        !/references private type '(Context|Env|Input|Handler|MiddlewareHandler)' \(adapters\/hono\.ts:\d+:\d+\)$/.test(
          problem,
        ),
    );
    expect(ours).toEqual([]);
  });
});
