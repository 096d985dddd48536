import { describeTarget } from "./matrix.ts";

describeTarget("bun");
