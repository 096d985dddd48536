/**
 * Turns scenario results into Markdown tables, prints them, and (on a full run) saves them for
 * report.mjs, which writes test/soak/RESULTS.md.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import type { ScenarioResult } from "./scenarios.ts";

/** Full sizes for `npm run soak`; reduced ones inside `npm test`. */
export const FULL = process.env.SOAK === "full";

/** Where a full run leaves its sections for report.mjs. */
export const SECTIONS_DIR = `${tmpdir()}/sendevents-soak`;

const MODE_NAMES = { node: "Node adapter", fetch: "fetch path (@hono/node-server)" };

/** One Markdown table per scenario, a row per server. */
export function toMarkdown(results: ScenarioResult[]): string {
  const scenarios = [...new Set(results.map((result) => result.scenario))];
  return scenarios
    .map((scenario) => {
      const rows = results
        .filter((result) => result.scenario === scenario)
        .map(
          (result) =>
            `| ${MODE_NAMES[result.mode]} | ${result.connections.toLocaleString("en")} | ${result.events.toLocaleString("en")} | ${result.peakRssMB} | ${result.heapDeltaMB} | ${result.leakedHandles} | ${result.detection} | ${result.seconds} |`,
        );
      return [
        `### ${scenario}`,
        "",
        "| server | connections | events | peak RSS (MB) | heap delta (MB) | leaked handles | detection latency | time (s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
        ...rows,
        "",
      ].join("\n");
    })
    .join("\n");
}

/** Prints the tables; on a full run also saves them as `name`.md for report.mjs. */
export function publish(name: string, results: ScenarioResult[]): void {
  if (results.length === 0) return;
  const markdown = toMarkdown(results);
  console.log(`\n${markdown}`);
  if (FULL) {
    mkdirSync(SECTIONS_DIR, { recursive: true });
    writeFileSync(`${SECTIONS_DIR}/${name}.md`, markdown);
    writeFileSync(`${SECTIONS_DIR}/${name}.json`, JSON.stringify(results, null, 2));
  }
}
