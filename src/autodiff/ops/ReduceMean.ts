import { dy0, type VjpRule } from "../rule.js";
import { expandReduced, keptShape } from "./static-values.js";

/** y = mean over axes: dx = dy/n broadcast back over the reduced axes, n = elements per mean (axes an input from opset 18). */
export const ReduceMean: VjpRule = {
  opType: "ReduceMean",
  grad: (ctx) => {
    const kept = keptShape(ctx, 18);
    const count = (s: readonly number[]) => s.reduce((p, d) => p * d, 1);
    const n = count(ctx.shape(ctx.node.inputs[0])) / count(kept);
    return [
      () => {
        const scaled = ctx.b.op("Mul", [dy0(ctx), ctx.b.scalar(1 / n, ctx.dataType(ctx.node.outputs[0]))]);
        return expandReduced(ctx, scaled, kept);
      },
      undefined,
    ];
  },
};
