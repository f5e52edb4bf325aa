import { dy0, type VjpRule } from "../rule.js";
import { expandReduced, keptShape } from "./static-values.js";

/**
 * y = max over axes: dx = dy at the positions equal to the maximum, 0 elsewhere. Ties share
 * dy equally (dy/count), as torch.amax does; torch.max(dim) would give it all to one index.
 * Axes are an input from opset 18.
 */
export const ReduceMax: VjpRule = {
  opType: "ReduceMax",
  grad: (ctx) => {
    const [x] = ctx.node.inputs;
    const y = ctx.node.outputs[0];
    const kept = keptShape(ctx, 18);
    const inShape = ctx.shape(x);
    // Axes of size 1 hold one element each, so counting ties needs only the others.
    const countAxes = kept.flatMap((d, i) => (d === 1 && inShape[i] !== 1 ? [i] : []));
    return [
      () => {
        const b = ctx.b;
        const g = dy0(ctx);
        if (countAxes.length === 0) return expandReduced(ctx, g, kept);
        const reshape = (v: string) => (kept.join() === ctx.shape(y).join() ? v : b.reshape(v, kept));
        const isMax = b.cast(b.op("Equal", [x, reshape(y)]), ctx.dataType(y));
        const ties = b.reduceSum(isMax, countAxes, true);
        return b.op("Mul", [isMax, b.op("Div", [reshape(g), ties])]);
      },
      undefined,
    ];
  },
};
