import { dy0, type VjpRule } from "../rule.js";
import { softmaxAxes } from "./softmax-axes.js";

/**
 * y = x − log Σ eˣ: dx = dy − eʸ·Σ dy, the sum over the softmax axes (softmax-axes.ts), kept for broadcasting.
 */
export const LogSoftmax: VjpRule = {
  opType: "LogSoftmax",
  grad: (ctx) => {
    const y = ctx.node.outputs[0];
    const axes = softmaxAxes(ctx);
    return [
      () => {
        const b = ctx.b;
        const g = dy0(ctx);
        return b.op("Sub", [g, b.op("Mul", [b.op("Exp", [y]), b.reduceSum(g, axes, true)])]);
      },
    ];
  },
};
