import { describeTarget } from "./matrix.ts";

describeTarget("workerd");
