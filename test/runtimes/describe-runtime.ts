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
 * Where a runtime differs from the others, whatever app it serves.
 *
 * workerd (1.20260426 under miniflare 4, and 1.20261117 alone) does not abort `request.signal`
 * when an HTTP client hangs up, `enable_request_signal` or not (it does for a service-binding
 * caller; Cloudflare's edge may differ): a stream notices on its next write, the keep-alive
 * comment, so `close` comes within one keep-alive interval (5 s) instead of at once.
 */
const RUNTIME_EXPECTATIONS: Partial<Record<RuntimeName, Omit<RuntimeOptions, "entry" | "label">>> =
  {
    workerd: { disconnectWithin: 5_000 + 1_000 },
  };

/**
 * Defines the conformance cases for `runtime`, against its example server (or `options.entry`).
 * A runtime that is not installed fails every case: it is never skipped.
 */
export function describeRuntime(runtime: RuntimeName, options: RuntimeOptions = {}): void {
  const { entry, label = runtime, ...overrides } = options;
  const expectations = { ...RUNTIME_EXPECTATIONS[runtime], ...overrides };
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
