import { dy0, type VjpRule } from "../rule.js";

/** d(x₀+…+xₙ) = dy for every operand, summed back over its broadcast axes. */
export const Sum: VjpRule = {
  opType: "Sum",
  grad: (ctx) => ctx.node.inputs.map((x) => () => ctx.unbroadcast(dy0(ctx), x)),
};
