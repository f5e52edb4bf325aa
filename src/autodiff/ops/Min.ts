import type { VjpRule } from "../rule.js";
import { selectedOperandGrads } from "./select-grad.js";

/** y = min(x₀, …, xₙ) with broadcasting: dy to the operand that is the minimum, split equally on ties. */
export const Min: VjpRule = {
  opType: "Min",
  grad: selectedOperandGrads,
};
