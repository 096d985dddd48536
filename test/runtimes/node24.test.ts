import { describeTarget } from "./matrix.ts";

describeTarget("node24");
