import { getInt } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * dx = y·(dy − Σ dy·y), the sum over the softmax axes, kept for broadcasting. Before opset 13
 * the input is coerced to 2-D at `axis` (default 1), i.e. the softmax runs over every axis
 * from `axis` on; from 13 it runs over `axis` alone (default −1).
 */
export const Softmax: VjpRule = {
  opType: "Softmax",
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
        const gy = b.op("Mul", [dy0(ctx), y]);
        return b.op("Sub", [gy, b.op("Mul", [y, b.reduceSum(gy, axes, true)])]);
      },
    ];
  },
};
