import { reshapeTo } from "../constants.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * dX is dY reshaped to X's static shape, so the target shape may be computed at run
 * time (Shape → Concat → Reshape) and `allowzero` does not matter. The shape input has no gradient.
 */
export const Reshape: VjpRule = {
  opType: "Reshape",
  grad: (ctx) => {
    const [x] = ctx.node.inputs;
    return [() => reshapeTo(ctx.b, dy0(ctx), ctx.shape(x), ctx.dataType(x)), undefined];
  },
};
