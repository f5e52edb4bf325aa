/**
 * Op type → VJP rule, and the ops whose outputs never carry a gradient (shapes,
 * comparisons, indices). An op in neither list makes a model non-differentiable at
 * that node; `aegis inspect` lists such nodes by name.
 */
import { ALL_RULES } from "./ops/index.js";
import type { VjpRule } from "./rule.js";

export const RULES: ReadonlyMap<string, VjpRule> = new Map(ALL_RULES.map((r) => [r.opType, r]));

/** Ops with integer/boolean outputs or a zero derivative almost everywhere. */
export const NO_GRADIENT_OPS: ReadonlySet<string> = new Set([
  "Shape",
  "Size",
  "ArgMax",
  "ArgMin",
  "Equal",
  "Greater",
  "GreaterOrEqual",
  "Less",
  "LessOrEqual",
  "Not",
  "And",
  "Or",
  "Xor",
  "IsNaN",
  "IsInf",
  "NonZero",
  "ConstantOfShape",
  "Range",
  "Floor",
  "Ceil",
  "Round",
  "Sign",
  "OneHot",
  "RandomNormal",
  "RandomUniform",
  "RandomNormalLike",
  "RandomUniformLike",
  "EyeLike",
]);

/** Ops in the ai.onnx / ai.onnx.ml domains that have a rule or need none. */
export function hasGradient(opType: string, domain: string): boolean {
  if (domain !== "" && domain !== "ai.onnx") return false;
  return RULES.has(opType) || NO_GRADIENT_OPS.has(opType);
}
