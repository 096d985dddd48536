import { describeTarget } from "./matrix.ts";

describeTarget("deno");
