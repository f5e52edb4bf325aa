import { reshapeTo } from "../constants.js";
import { dy0, type VjpRule } from "../rule.js";

/** dX is dY reshaped to X's static shape, whether axes are an attribute (< 13), an input or absent. */
export const Squeeze: VjpRule = {
  opType: "Squeeze",
  grad: (ctx) => {
    const [x] = ctx.node.inputs;
    return [() => reshapeTo(ctx.b, dy0(ctx), ctx.shape(x), ctx.dataType(x)), undefined];
  },
};
