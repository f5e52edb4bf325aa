import { dy0, type VjpRule } from "../rule.js";
import { softmaxAxes } from "./softmax-axes.js";

/**
 * dx = y·(dy − Σ dy·y), the sum over the softmax axes (softmax-axes.ts), kept for broadcasting.
 */
export const Softmax: VjpRule = {
  opType: "Softmax",
  grad: (ctx) => {
    const y = ctx.node.outputs[0];
    const axes = softmaxAxes(ctx);
    return [
      () => {
        const b = ctx.b;
        const gy = b.op("Mul", [dy0(ctx), y]);
        return b.op("Sub", [gy, b.op("Mul", [y, b.reduceSum(gy, axes, true)])]);
      },
    ];
  },
};
