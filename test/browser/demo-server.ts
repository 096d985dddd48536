import { existsSync } from "node:fs";
import { type ServerProcess, startServer } from "../runtimes/launch.ts";

/** The demo server, running as a child process on a free port. */
export interface DemoServer {
  readonly url: URL;
  /** Everything the server printed so far, stdout and stderr. */
  output(): string;
  /** Sends `signal` and resolves with the exit code (`null` if killed by a signal). */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `node examples/demo/server.js` with `PORT=0` and waits for the URL it prints. The demo
 * imports the package by its name, which Node resolves to the built `dist/`.
 */
export async function startDemo(): Promise<DemoServer> {
  if (!existsSync(new URL("../../dist/src/index.js", import.meta.url))) {
    throw new Error("Cannot start the demo: dist/ is missing, run `npm run build` first");
  }
  const server: ServerProcess = await startServer(
    "examples/demo/server.js",
    process.execPath,
    ["examples/demo/server.js"],
    { ready: /(http:\/\/127\.0\.0\.1:\d+\/)/ },
  );
  return {
    url: server.url,
    output: () => server.output(),
    async stop(signal = "SIGTERM") {
      server.kill(signal);
      const { code } = await server.exited;
      // Whatever it left behind in its process group goes too.
      await server.stop();
      return code;
    },
  };
}
