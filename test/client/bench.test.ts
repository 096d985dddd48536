// The client benchmark's smoke run: every client in bench/client-parse.mjs reads exactly the
// events of a small stream (the script throws otherwise). It asserts no timing; the script measures.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { expect, test } from "vitest";

const script = fileURLToPath(new URL("../../bench/client-parse.mjs", import.meta.url));

test("bench/client-parse.mjs: every client reads exactly the events of the stream", async () => {
  const stdout = await new Promise<string>((resolve, reject) =>
    execFile(process.execPath, [script, "--events=2000", "--runs=1"], (error, out, err) =>
      error ? reject(new Error(`${error.message}\n${err}`)) : resolve(out),
    ),
  );
  for (const name of [
    "sendevents parser (callback)",
    "eventsource-parser (callback)",
    "readEvents (for await)",
    "EventSourceParserStream (for await)",
    "connect (for await)",
    "connect (addEventListener)",
    "fetch-event-source (onmessage)",
  ]) {
    expect(stdout).toContain(`| ${name} |`);
  }
});
