import { describeRuntime } from "./describe-runtime.ts";

describeRuntime("node18");
