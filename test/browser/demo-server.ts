import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SERVER = fileURLToPath(new URL("../../examples/demo/server.js", import.meta.url));

/** The demo server, running as a child process on a free port. */
export interface DemoServer {
  readonly child: ChildProcess;
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
  const child = spawn(process.execPath, [SERVER], {
    cwd: ROOT,
    env: { ...process.env, PORT: "0" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
  });
  const url = await new Promise<URL>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /http:\/\/127\.0\.0\.1:\d+\//.exec(output);
      if (match !== null) resolve(new URL(match[0]));
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) =>
      reject(new Error(`The demo exited with code ${code} before listening:\n${output}`)),
    );
  });
  return {
    child,
    url,
    output: () => output,
    async stop(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
      return await exited;
    },
  };
}
