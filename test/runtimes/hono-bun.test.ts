import { describeTarget } from "./matrix.ts";

describeTarget("hono on bun");
