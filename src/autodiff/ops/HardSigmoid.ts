import { getFloat } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * y = max(0, min(1, alpha·x + beta)) (alpha 0.2, beta 0.5): dx = alpha·dy where 0 < y < 1,
 * 0 in the flat parts and at the corners (as PyTorch's hardsigmoid).
 */
export const HardSigmoid: VjpRule = {
  opType: "HardSigmoid",
  grad: (ctx) => {
    const y = ctx.node.outputs[0];
    const alpha = getFloat(ctx.node, "alpha", 0.2);
    return [
      () => {
        const b = ctx.b;
        const t = ctx.dataType(y);
        const inside = b.op("And", [b.op("Greater", [y, b.scalar(0, t)]), b.op("Less", [y, b.scalar(1, t)])]);
        return b.op("Mul", [b.op("Mul", [dy0(ctx), b.scalar(alpha, t)]), b.cast(inside, t)]);
      },
    ];
  },
};
