/**
 * The runtime matrix: every target the library is tested on, and the one way to define its
 * cases. A target is the library on one runtime: `sendevents` with the runtime's own server API
 * (the example in `examples/<runtime>/`), or `sendevents/hono` (the Hono example in
 * `examples/hono/`, and the test app in `test/hono/app.ts`). Each `test/runtimes/<target>.test.ts`
 * is one {@linkcode describeTarget} call, so vitest's workers run the targets in parallel:
 *
 * - every target runs the conformance cases (`test/conformance/conformance.ts`, concurrently)
 *   against its example;
 * - a Hono target also runs the Hono cases (`test/hono/cases.ts`, in order) against the test app;
 * - a target with a client app also runs the client's cases (`test/client/cases.ts`, the client
 *   in this Node process, concurrently) against it.
 *
 * The target's name starts every test name. A runtime that is not installed fails every case of
 * its targets: none is ever skipped. Where a runtime behaves differently, the target says so in
 * {@linkcode RUNTIME_EXPECTATIONS}, with the reason.
 *
 * @module
 */
import { afterAll, beforeAll, describe } from "vitest";
import { clientCases } from "../client/cases.ts";
import { type ConformanceTarget, conformanceCases } from "../conformance/conformance.ts";
import { honoCases } from "../hono/cases.ts";
import {
  bundle,
  type LaunchedServer,
  type LaunchOptions,
  launch,
  type RuntimeName,
} from "./launch.ts";

/** One target of the matrix. */
export interface Target {
  /** The runtime it runs on. */
  runtime: RuntimeName;
  /** The server the conformance cases run against, for `launch`; the runtime's example if omitted. */
  example?: string;
  /** The client app (`test/client/app.js`) on this runtime, for `launch`: for the client's cases. */
  clientApp?: string;
  /** Serves `test/hono/app.ts` for the Hono cases: Hono targets only. */
  honoApp?: () => Promise<LaunchedServer>;
}

/**
 * Where a runtime differs from the others, whatever app it serves.
 *
 * workerd (1.20260426 under miniflare 4, and 1.20261117 alone) does not abort `request.signal`
 * when an HTTP client hangs up, `enable_request_signal` or not (it does for a service-binding
 * caller; Cloudflare's edge may differ): a stream notices on its next write, the keep-alive
 * comment, so `close` comes within one keep-alive interval (5 s) instead of at once.
 */
const RUNTIME_EXPECTATIONS: Partial<
  Record<RuntimeName, Pick<ConformanceTarget, "disconnectWithin" | "idleFor">>
> = {
  workerd: { disconnectWithin: 5_000 + 1_000 },
};

/**
 * Serves the test app (`test/hono/worker.ts`, bundled with hono and the library's sources) with
 * `script`, which imports the bundle whose path it is given. The bundle goes when the server
 * stops, or when it fails to start.
 */
async function serveBundledApp(
  runtime: RuntimeName,
  script: string,
  options: (path: string) => LaunchOptions = () => ({}),
): Promise<LaunchedServer> {
  const app = bundle("test/hono/worker.ts");
  try {
    const { args = [], ...rest } = options(app.path);
    const server = await launch(runtime, script, { ...rest, args: [...args, app.path] });
    return {
      ...server,
      stop: async () => {
        await server.stop();
        app.remove();
      },
    };
  } catch (error) {
    app.remove();
    throw error;
  }
}

/** Every target; each has its file `test/runtimes/<name with dashes>.test.ts`. */
export const TARGETS = {
  node18: { runtime: "node18" },
  node20: { runtime: "node20", clientApp: "test/client/serve-node.mjs" },
  node22: { runtime: "node22" },
  node24: { runtime: "node24" },
  deno: { runtime: "deno", clientApp: "test/client/serve-deno.mjs" },
  bun: { runtime: "bun", clientApp: "test/client/serve-bun.mjs" },
  workerd: { runtime: "workerd", clientApp: "test/client/app.js" },
  edge: { runtime: "edge" },
  // sendevents/hono: the example on @hono/node-server, Deno.serve, Bun.serve and workerd (through
  // miniflare, with the top-level wrangler.toml's flags), and the test app on the same.
  "hono on node20": {
    runtime: "node20",
    example: "examples/hono/node.js",
    honoApp: () => serveBundledApp("node20", "test/hono/serve-node.mjs"),
  },
  "hono on deno": {
    runtime: "deno",
    example: "examples/hono/deno.js",
    honoApp: () =>
      serveBundledApp("deno", "test/hono/serve-deno.mjs", (path) => ({
        runtimeArgs: [`--allow-read=${path}`],
      })),
  },
  "hono on bun": {
    runtime: "bun",
    example: "examples/hono/bun.js",
    honoApp: () => serveBundledApp("bun", "test/hono/serve-bun.mjs"),
  },
  "hono on workerd": {
    runtime: "workerd",
    example: "examples/hono/worker.js",
    // miniflare-server.mjs bundles the worker itself.
    honoApp: () => launch("workerd", "test/hono/worker.ts"),
  },
} satisfies Record<string, Target>;

/** The name of one of {@linkcode TARGETS}. */
export type TargetName = keyof typeof TARGETS;

/**
 * Starts a server in `beforeAll` and stops it in `afterAll` of the enclosing `describe`; returns
 * its base URL for the cases (which run once it is up).
 */
function serverFor(name: string, start: () => Promise<LaunchedServer>): () => URL {
  let server: LaunchedServer | undefined;
  beforeAll(async () => {
    server = await start();
    console.log(`${name}: ${server.version}, ${server.url.href}`);
  }, 90_000);
  afterAll(async () => {
    await server?.stop();
  });
  return () => {
    if (!server) throw new Error(`${name} is not running`);
    return server.url;
  };
}

/** Defines every case of the target `name`: one call per `test/runtimes/<target>.test.ts`. */
export function describeTarget(name: TargetName): void {
  const target: Target = TARGETS[name];
  const expectations = RUNTIME_EXPECTATIONS[target.runtime] ?? {};
  describe(name, () => {
    describe.concurrent("conformance", () => {
      const url = serverFor(`${name} example`, async () => {
        const server = await launch(target.runtime, target.example);
        // The first request may compile the app (workerd does it lazily): not what the cases measure.
        await (await fetch(new URL("/stats", server.url))).arrayBuffer();
        return server;
      });
      conformanceCases({ runtime: name, url, ...expectations });
    });
    const { clientApp } = target;
    if (clientApp) {
      describe.concurrent("client cases", () => {
        const url = serverFor(`${name} client app`, async () => {
          const server = await launch(target.runtime, clientApp);
          await (await fetch(new URL("/stats", server.url))).arrayBuffer();
          return server;
        });
        clientCases(name, url, expectations.disconnectWithin);
      });
    }
    const { honoApp } = target;
    if (honoApp) {
      describe("Hono cases", () => {
        const url = serverFor(`${name} test app`, honoApp);
        honoCases({ runtime: name, url });
      });
    }
  });
}
