import { getInt, isFloatType } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/** Float → float: dx = dy cast back to x's type. To or from an integer or boolean type: no gradient. */
export const Cast: VjpRule = {
  opType: "Cast",
  grad: (ctx) => {
    const x = ctx.node.inputs[0];
    const to = getInt(ctx.node, "to", 0);
    const from = ctx.dataType(x);
    if (!isFloatType(to) || !isFloatType(from)) return [undefined];
    return [() => (from === to ? dy0(ctx) : ctx.b.cast(dy0(ctx), from))];
  },
};
