import { describeTarget } from "./matrix.ts";

describeTarget("edge");
