import { describeRuntime } from "./describe-runtime.ts";

describeRuntime("node24");
