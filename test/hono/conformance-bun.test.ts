// The conformance suite against the Hono example app (examples/hono), on Bun.serve.
import { describeRuntime } from "../runtimes/describe-runtime.ts";

describeRuntime("bun", { entry: "examples/hono/bun.js", label: "hono on bun" });
