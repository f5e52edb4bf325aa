import type { VjpRule } from "../rule.js";

/** A Constant has no inputs, so nothing to differentiate; the rule lets gradients stop here. */
export const Constant: VjpRule = {
  opType: "Constant",
  grad: () => [],
};
