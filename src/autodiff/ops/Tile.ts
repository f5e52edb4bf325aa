import { zerosOf } from "../constants.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * Along each axis Y holds r copies of X one after the other, so dY reshaped from
 * [r·d] to [r, d] and summed over r gives dX. The repeats come from the static shapes.
 */
export const Tile: VjpRule = {
  opType: "Tile",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x] = node.inputs;
    return [
      () => {
        const inShape = ctx.shape(x);
        const outShape = ctx.shape(node.outputs[0]);
        const split: number[] = [];
        const axes: number[] = [];
        inShape.forEach((d, i) => {
          const r = d === 0 ? 1 : outShape[i] / d;
          if (r !== 1) {
            axes.push(split.length);
            split.push(r);
          }
          split.push(d);
        });
        if (axes.length === 0) return dy0(ctx);
        if (inShape.includes(0)) return zerosOf(b, inShape, ctx.dataType(x));
        return b.reduceSum(b.reshape(dy0(ctx), split), axes, false);
      },
      undefined,
    ];
  },
};
