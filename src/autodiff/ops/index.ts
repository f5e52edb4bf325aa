/**
 * Every VJP rule, one file per op. The lists are split by family so that rules can be
 * added side by side; the registry joins them.
 */
import type { VjpRule } from "../rule.js";
import { Add } from "./Add.js";
import { Gemm } from "./Gemm.js";
import { Mul } from "./Mul.js";
import { MATH_RULES } from "./math.js";
import { NN_RULES } from "./nn.js";
import { Relu } from "./Relu.js";
import { TENSOR_RULES } from "./tensor.js";

export const ALL_RULES: readonly VjpRule[] = [Add, Mul, Relu, Gemm, ...NN_RULES, ...TENSOR_RULES, ...MATH_RULES];
