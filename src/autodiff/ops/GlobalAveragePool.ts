import { dy0, type VjpRule } from "../rule.js";
import { product } from "./nn-window.js";

/** Y[n,c] = mean of X[n,c,…] over the spatial axes: dX = dY/(spatial size), broadcast back. */
export const GlobalAveragePool: VjpRule = {
  opType: "GlobalAveragePool",
  grad: (ctx) => {
    const { node, b } = ctx;
    const x = node.inputs[0];
    const xs = ctx.shape(x);
    return [
      () => {
        // Scale the small tensor, then broadcast.
        const scaled = b.op("Mul", [dy0(ctx), b.scalar(1 / product(xs.slice(2)), ctx.dataType(x))]);
        return b.op("Expand", [scaled, b.int64s(xs)]);
      },
    ];
  },
};
