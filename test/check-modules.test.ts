import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, test } from "vitest";
import { findCycles, internalTypesReached } from "../scripts/check-modules.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const made: string[] = [];

/** A package in a temporary folder, from a map of its files. */
function fixture(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "check-modules-"));
  made.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

afterEach(() => {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe("check-modules", () => {
  test("finds no import cycle in the built package, and no internal file behind its types", () => {
    expect(findCycles(join(root, "dist"))).toEqual([]);
    expect(internalTypesReached(root)).toEqual([]);
  });

  test("reports a cycle of runtime imports, through re-exports too, but not type-only imports", () => {
    const dir = fixture({
      "dist/a.js": 'import { b } from "./b.js";\nexport const a = b;\n',
      "dist/b.js": 'export { c as b } from "./c.js";\n',
      "dist/c.js": 'import "./a.js";\nexport const c = 1;\n',
      "dist/d.js": 'import { a } from "./a.js";\nexport const d = a;\n',
    });
    expect(findCycles(join(dir, "dist"))).toEqual([["a.js", "b.js", "c.js"]]);
  });

  test("reports the internal declaration files an entry's types reach", () => {
    const dir = fixture({
      "package.json": JSON.stringify({
        exports: {
          ".": { types: "./dist/index.d.ts", default: "./dist/index.js" },
          "./package.json": "./package.json",
        },
      }),
      "dist/index.d.ts": 'export type { Public } from "./public.js";\n',
      "dist/public.d.ts":
        'import type { Hidden } from "./_internal/hidden.js";\nexport type Public = Hidden;\n',
      "dist/_internal/hidden.d.ts": "export type Hidden = string;\n",
    });
    expect(internalTypesReached(dir)).toEqual([
      { entry: ".", file: join("dist", "_internal", "hidden.d.ts") },
    ]);
  });
});
