/** Op type → per-example gradient rule, for the ops that consume parameters. */
import { BatchNormalization } from "./BatchNormalization.js";
import { Conv } from "./Conv.js";
import { ELEMENTWISE_RULES } from "./elementwise.js";
import { Gemm } from "./Gemm.js";
import { LayerNormalization } from "./LayerNormalization.js";
import { MatMul } from "./MatMul.js";
import type { PerExampleRule } from "./rule.js";

export const PER_EXAMPLE_RULES: ReadonlyMap<string, PerExampleRule> = new Map(
  [Conv, Gemm, MatMul, BatchNormalization, LayerNormalization, ...ELEMENTWISE_RULES].map((r) => [r.opType, r]),
);
export type { PerExampleGradient, PerExampleRule } from "./rule.js";
