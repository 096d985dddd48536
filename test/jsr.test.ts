// The JSR package (deno.json) publishes the TypeScript sources themselves. This checks, with the real
// Deno from node_modules, that each entry type-checks without --sloppy-imports, that `deno publish
// --dry-run` passes with no slow types, and that deno.json agrees with package.json.
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const deno = fileURLToPath(new URL("../node_modules/.bin/deno", import.meta.url));
const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
const jsr = JSON.parse(readFileSync(new URL("../deno.json", import.meta.url), "utf8"));

async function runDeno(...args: string[]): Promise<{ code: number; output: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(deno, args, {
      cwd: root,
      env: { ...process.env, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const { code, stdout, stderr } = error as { code: unknown; stdout?: string; stderr?: string };
    return {
      code: typeof code === "number" ? code : -1,
      output: `${stdout ?? ""}${stderr ?? ""}${String(error)}`,
    };
  }
}

/**
 * npm entries the JSR package leaves out, and why. sendevents/cloudflare imports
 * `cloudflare:workers`, which only workerd (and the bundlers of wrangler and miniflare) resolve:
 * Deno can neither check nor publish it, and Workers projects install from npm.
 */
const NPM_ONLY: Record<string, string> = {
  "./cloudflare": "imports cloudflare:workers",
};

describe("JSR package (deno.json)", () => {
  test("has the version of package.json", () => {
    expect(jsr.version).toBe(pkg.version);
  });

  test("exports the npm entries from their sources", () => {
    // package.json: "./hono" -> dist/adapters/hono.js; deno.json: "./hono" -> ./adapters/hono.ts.
    const fromNpm = Object.fromEntries(
      Object.entries(pkg.exports as Record<string, string | { default: string }>)
        .filter(([name]) => name !== "./package.json" && !(name in NPM_ONLY))
        .map(([name, target]) => [
          name,
          (typeof target === "string" ? target : target.default)
            .replace(/^\.\/dist\//, "./")
            .replace(/\.js$/, ".ts"),
        ]),
    );
    expect(jsr.exports).toEqual(fromNpm);
  });

  test("does not turn sloppy imports on", () => {
    expect(JSON.stringify(jsr)).not.toMatch(/sloppy/);
  });

  test.each(Object.entries(jsr.exports as Record<string, string>))(
    "deno check %s (%s) passes without --sloppy-imports",
    async (_name, file) => {
      const { code, output } = await runDeno("check", file);
      expect(output).not.toMatch(/error/i);
      expect(code, output).toBe(0);
    },
  );

  test("deno publish --dry-run passes with no slow types", async () => {
    const { code, output } = await runDeno("publish", "--dry-run", "--allow-dirty");
    expect(output).not.toMatch(/error\[|warning\[|slow-type-|--allow-slow-types/);
    expect(code, output).toBe(0);
    expect(output).toContain(`Simulating publish of ${jsr.name}@${pkg.version}`);
    expect(output).toContain("Dry run complete");
    // The sources only: no tests, examples or build output.
    const base = pathToFileURL(root).href;
    const published = output
      .split("\n")
      .map((line) => line.trim())
      .filter((line) => line.startsWith(base))
      .map((line) => line.slice(base.length).split(" ")[0] ?? "");
    expect(published).toContain("src/index.ts");
    expect(published.filter((path) => path.includes("cloudflare"))).toEqual([]);
    expect(
      published.filter(
        (path) => !/^((src|adapters)\/.*\.ts|LICENSE|README\.md|deno\.json)$/.test(path),
      ),
    ).toEqual([]);
  }, 60_000);
});
