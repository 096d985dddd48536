import { describeTarget } from "./matrix.ts";

describeTarget("hono on node20");
