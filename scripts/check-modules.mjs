// Two checks on the built package, run by `npm test` after the build:
// 1. No import cycle among the modules, as they load at run time: the emitted JavaScript's
//    static imports and re-exports (type-only imports are gone by then, and cannot cycle).
// 2. The published types hold only public symbols: no declaration file reachable from an entry
//    of package.json's `exports` lies in an internal folder (`_internal/`, `_node/`, ...).
// Usage: node scripts/check-modules.mjs [dist-root]   (exits 1 and says why on a failure)
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const IMPORT =
  /(?:^|[;\s])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/gm;

/** The relative specifiers a module loads, `import type` ones left out when asked. */
function specifiers(text, skipTypeOnly) {
  const found = [];
  for (const match of text.matchAll(IMPORT)) {
    if (skipTypeOnly && /^\s*[;]?\s*(?:import|export)\s+type\s/.test(match[0])) continue;
    found.push(match[1] ?? match[2]);
  }
  return found;
}

function walk(root, suffix) {
  return readdirSync(root, { recursive: true })
    .map(String)
    .filter((entry) => entry.endsWith(suffix) && !entry.includes("node_modules"))
    .map((entry) => join(root, entry));
}

/** Every cycle (a strongly connected component of two or more modules, or a self-import). */
export function findCycles(root) {
  const graph = new Map();
  for (const file of walk(root, ".js")) {
    const deps = specifiers(readFileSync(file, "utf8"), false)
      .map((spec) => resolve(dirname(file), spec))
      .filter((dep) => existsSync(dep));
    graph.set(file, deps);
  }
  // Tarjan's algorithm, iteratively deep enough for a package this size.
  let index = 0;
  const stack = [];
  const meta = new Map();
  const cycles = [];
  const visit = (node) => {
    meta.set(node, { index, low: index, onStack: true });
    index++;
    stack.push(node);
    for (const dep of graph.get(node) ?? []) {
      if (!meta.has(dep)) {
        visit(dep);
        meta.get(node).low = Math.min(meta.get(node).low, meta.get(dep).low);
      } else if (meta.get(dep).onStack) {
        meta.get(node).low = Math.min(meta.get(node).low, meta.get(dep).index);
      }
    }
    if (meta.get(node).low === meta.get(node).index) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        meta.get(member).onStack = false;
        component.push(member);
      } while (member !== node);
      const selfImport = (graph.get(node) ?? []).includes(node);
      if (component.length > 1 || selfImport) {
        cycles.push(component.map((file) => relative(root, file)).sort());
      }
    }
  };
  for (const node of graph.keys()) if (!meta.has(node)) visit(node);
  return cycles;
}

/** Declaration files in internal folders that an entry's types reach, with the entry. */
export function internalTypesReached(packageRoot) {
  const pkg = JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8"));
  const leaks = [];
  for (const [entry, target] of Object.entries(pkg.exports)) {
    const types = typeof target === "object" ? target.types : undefined;
    if (types === undefined) continue;
    const seen = new Set();
    const pending = [resolve(packageRoot, types)];
    while (pending.length > 0) {
      const file = pending.pop();
      if (seen.has(file)) continue;
      seen.add(file);
      const rel = relative(packageRoot, file);
      if (rel.split(/[\\/]/).some((part) => part.startsWith("_"))) leaks.push({ entry, file: rel });
      if (!existsSync(file)) continue;
      for (const spec of specifiers(readFileSync(file, "utf8"), false)) {
        pending.push(resolve(dirname(file), spec.replace(/\.js$/, ".d.ts")));
      }
    }
  }
  return leaks;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const packageRoot = resolve(
    process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), ".."),
  );
  const cycles = findCycles(join(packageRoot, "dist"));
  const leaks = internalTypesReached(packageRoot);
  for (const cycle of cycles) console.error(`import cycle: ${cycle.join(" <-> ")}`);
  for (const { entry, file } of leaks) {
    console.error(`the types of "${entry}" reach an internal file: ${file}`);
  }
  if (cycles.length > 0 || leaks.length > 0) process.exit(1);
  console.log("check-modules: no import cycle; the published types reach no internal file");
}
