// The conformance suite against the Hono example app (examples/hono), on Deno.serve.
import { describeRuntime } from "../runtimes/describe-runtime.ts";

describeRuntime("deno", { entry: "examples/hono/deno.js", label: "hono on deno" });
