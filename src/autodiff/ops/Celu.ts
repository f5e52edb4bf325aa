import { getFloat } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * y = max(0, x) + min(0, α·(exp(x/α) − 1)) (α = 1 by default): dx = dy for x > 0 and
 * dy·exp(x/α) for x ≤ 0 (1 at 0, as PyTorch's celu).
 */
export const Celu: VjpRule = {
  opType: "Celu",
  grad: (ctx) => {
    const x = ctx.node.inputs[0];
    const alpha = getFloat(ctx.node, "alpha", 1);
    return [
      () => {
        const b = ctx.b;
        const t = ctx.dataType(x);
        const inside = b.op("Exp", [b.op("Mul", [b.op("Min", [x, b.scalar(0, t)]), b.scalar(1 / alpha, t)])]);
        return b.op("Mul", [dy0(ctx), inside]);
      },
    ];
  },
};
