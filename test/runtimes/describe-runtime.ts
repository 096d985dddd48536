/**
 * Runs the conformance suite on one runtime: launches its example server before the cases and
 * stops it after. Each `test/runtimes/<runtime>.test.ts` is one call, so vitest's workers run
 * the runtimes in parallel and the cases of one runtime run concurrently.
 *
 * @module
 */
import { afterAll, beforeAll, describe } from "vitest";
import { type ConformanceTarget, conformanceCases } from "../conformance/conformance.ts";
import { type LaunchedServer, launch, type RuntimeName } from "./launch.ts";

/** Where a runtime's server comes from and how it may differ from the others. */
export interface RuntimeOptions extends Omit<ConformanceTarget, "runtime" | "url"> {
  /** A server entry to launch instead of the runtime's example (see `launch`). */
  entry?: string;
  /** The name in test names; the runtime's name by default. */
  label?: string;
}

/**
 * Defines the conformance cases for `runtime`, against its example server (or `options.entry`).
 * A runtime that is not installed fails every case: it is never skipped.
 */
export function describeRuntime(runtime: RuntimeName, options: RuntimeOptions = {}): void {
  const { entry, label = runtime, ...expectations } = options;
  let server: LaunchedServer | undefined;
  describe.concurrent(`${label} conformance`, () => {
    beforeAll(async () => {
      server = await launch(runtime, entry);
      console.log(`${label}: ${server.version}, ${server.url.href}`);
      // The first request may compile the app (workerd does it lazily): not what the cases measure.
      await (await fetch(new URL("/stats", server.url))).arrayBuffer();
    });
    afterAll(async () => {
      await server?.stop();
    });
    conformanceCases({
      runtime: label,
      url: () => {
        if (!server) throw new Error(`${label} is not running`);
        return server.url;
      },
      ...expectations,
    });
  });
}
