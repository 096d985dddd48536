// The client (in this Node process) against the client app served on each runtime.
import { afterAll, beforeAll, describe } from "vitest";
import { type LaunchedServer, launch, type RuntimeName } from "../runtimes/launch.ts";
import { clientCases } from "./cases.ts";

const RUNTIMES: [RuntimeName, string, number][] = [
  ["node20", "test/client/serve-node.mjs", 1_000],
  ["deno", "test/client/serve-deno.mjs", 1_000],
  ["bun", "test/client/serve-bun.mjs", 1_000],
  // workerd notices a client that left on its next write, the keep-alive (see describe-runtime.ts).
  ["workerd", "test/client/app.js", 6_000],
];

for (const [runtime, entry, disconnectWithin] of RUNTIMES) {
  describe.concurrent(`client against ${runtime}`, () => {
    let server: LaunchedServer | undefined;
    beforeAll(async () => {
      server = await launch(runtime, entry);
      await (await fetch(new URL("/stats", server.url))).arrayBuffer();
    });
    afterAll(async () => {
      await server?.stop();
    });
    clientCases(
      runtime,
      () => {
        if (!server) throw new Error(`${runtime} is not running`);
        return server.url;
      },
      disconnectWithin,
    );
  });
}
