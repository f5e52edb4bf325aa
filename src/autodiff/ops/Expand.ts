import { unbroadcast } from "../broadcast.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * dX = dY summed over the axes Expand added or stretched, then reshaped to X's shape.
 * The second input is a shape tensor, not an operand, so the axes come from X's and Y's
 * static shapes rather than from the node's inputs.
 */
export const Expand: VjpRule = {
  opType: "Expand",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x] = node.inputs;
    return [() => unbroadcast(b, dy0(ctx), ctx.shape(x), ctx.shape(node.outputs[0])), undefined];
  },
};
