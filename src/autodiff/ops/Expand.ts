import { dy0, type VjpRule } from "../rule.js";

/**
 * dX = dY summed over the axes Expand added or stretched, then reshaped to X's shape.
 * The second input is a shape tensor, not an operand, so the generic unbroadcast (which
 * broadcasts all inputs' shapes) does not apply: the axes come from X's and Y's static shapes.
 */
export const Expand: VjpRule = {
  opType: "Expand",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x] = node.inputs;
    return [
      () => {
        const inShape = ctx.shape(x);
        const outShape = ctx.shape(node.outputs[0]);
        const lead = outShape.length - inShape.length;
        const axes: number[] = [];
        for (let j = 0; j < outShape.length; j++) {
          if (j < lead || (inShape[j - lead] === 1 && outShape[j] !== 1)) axes.push(j);
        }
        if (axes.length === 0) return dy0(ctx);
        return b.reshape(b.reduceSum(dy0(ctx), axes, false), inShape);
      },
      undefined,
    ];
  },
};
