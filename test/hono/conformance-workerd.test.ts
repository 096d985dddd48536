// The conformance suite against the Hono example app (examples/hono), on workerd (wrangler dev, the top-level wrangler.toml's flags).
import { describeRuntime } from "../runtimes/describe-runtime.ts";

describeRuntime("workerd", { entry: "examples/hono/worker.js", label: "hono on workerd" });
