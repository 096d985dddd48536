// The conformance suite against the Hono example app (examples/hono), on Node 20 through @hono/node-server.
import { describeRuntime } from "../runtimes/describe-runtime.ts";

describeRuntime("node20", { entry: "examples/hono/node.js", label: "hono on node20" });
