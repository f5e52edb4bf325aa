import type { VjpRule } from "../rule.js";
import { selectedOperandGrads } from "./select-grad.js";

/** y = max(x₀, …, xₙ) with broadcasting: dy to the operand that is the maximum, split equally on ties. */
export const Max: VjpRule = {
  opType: "Max",
  grad: selectedOperandGrads,
};
