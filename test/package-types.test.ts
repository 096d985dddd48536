// The published types on their own: the packed tarball, installed in a fresh project and checked
// with skipLibCheck: false, in each setup a user has (the DOM lib; Node with @types/node only;
// Cloudflare Workers with @cloudflare/workers-types, whose dated entrypoints declare Event.type as
// an accessor) and with each TypeScript we support.
import { execFile, execFileSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ensureBuilt } from "./soak/harness.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const SETUPS = [
  { name: "DOM lib", lib: ["es2022", "dom"], types: [] as string[] },
  { name: "Node only (@types/node, no DOM)", lib: ["es2023"], types: ["node"] },
  {
    name: "Workers (@cloudflare/workers-types)",
    lib: ["es2023"],
    types: ["@cloudflare/workers-types"],
  },
  {
    name: "Workers, dated entrypoint (@cloudflare/workers-types/latest)",
    lib: ["es2023"],
    types: ["@cloudflare/workers-types/latest"],
  },
];
const COMPILERS = [
  { name: "TypeScript 5.9", bin: join(ROOT, "node_modules/typescript/bin/tsc") },
  { name: "TypeScript 7", bin: join(ROOT, "node_modules/typescript-7/bin/tsc") },
];
/** Packages the consumer projects see beside sendevents, linked from ours. */
const LINKED = [
  "hono",
  "@types/node",
  "undici-types",
  "@cloudflare/workers-types",
  "redis",
  "@redis",
];

let dir: string;

beforeAll(async () => {
  await ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), "sendevents-types-"));
  const packed = execFileSync("npm", ["pack", "--ignore-scripts", "--pack-destination", dir], {
    cwd: ROOT,
    encoding: "utf8",
  })
    .trim()
    .split("\n")
    .at(-1)!;
  const unpacked = join(dir, "unpacked");
  mkdirSync(unpacked);
  execFileSync("tar", ["-xzf", join(dir, packed), "-C", unpacked]);
  SETUPS.forEach((setup, index) => {
    const project = join(dir, `project-${index}`);
    mkdirSync(join(project, "node_modules/@types"), { recursive: true });
    mkdirSync(join(project, "node_modules/@cloudflare"), { recursive: true });
    cpSync(join(unpacked, "package"), join(project, "node_modules/sendevents"), {
      recursive: true,
    });
    for (const name of LINKED) {
      symlinkSync(join(ROOT, "node_modules", name), join(project, "node_modules", name));
    }
    const files = ["consumer.ts"];
    if (setup.types.includes("node")) files.push("node-consumer.ts");
    if (setup.types.some((types) => types.startsWith("@cloudflare/workers-types"))) {
      files.push("workers-consumer.ts");
    }
    for (const file of files) {
      cpSync(join(ROOT, "test/package-types", file), join(project, file));
    }
    writeFileSync(join(project, "package.json"), '{ "type": "module" }\n');
    writeFileSync(
      join(project, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          skipLibCheck: false,
          module: "nodenext",
          moduleResolution: "nodenext",
          target: "es2022",
          lib: setup.lib,
          types: setup.types,
        },
        files,
      }),
    );
  });
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function typeCheck(bin: string, project: string): Promise<string> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, "-p", project], { encoding: "utf8" }, (error, stdout) =>
      resolve(error ? stdout || String(error) : ""),
    );
  });
}

describe("the published types", () => {
  for (const compiler of COMPILERS) {
    SETUPS.forEach((setup, index) => {
      test(`the packed package type-checks with skipLibCheck false: ${setup.name}, ${compiler.name}`, async () => {
        expect(await typeCheck(compiler.bin, join(dir, `project-${index}`))).toBe("");
      }, 60_000);
    });
  }
});
