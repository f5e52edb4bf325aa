import { getInt } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * y = x − log Σ eˣ: dx = dy − eʸ·Σ dy, the sum over the softmax axes, kept for broadcasting.
 * Before opset 13 the input is coerced to 2-D at `axis` (default 1), i.e. the normalisation
 * runs over every axis from `axis` on; from 13 over `axis` alone (default −1).
 */
export const LogSoftmax: VjpRule = {
  opType: "LogSoftmax",
  grad: (ctx) => {
    const y = ctx.node.outputs[0];
    const rank = ctx.shape(y).length;
    const modern = ctx.b.opset >= 13;
    const axis = getInt(ctx.node, "axis", modern ? -1 : 1);
    const first = axis < 0 ? axis + rank : axis;
    const axes = modern ? [first] : Array.from({ length: rank - first }, (_, i) => first + i);
    return [
      () => {
        const b = ctx.b;
        const g = dy0(ctx);
        return b.op("Sub", [g, b.op("Mul", [b.op("Exp", [y]), b.reduceSum(g, axes, true)])]);
      },
    ];
  },
};
