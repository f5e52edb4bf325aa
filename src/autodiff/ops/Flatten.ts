import { reshapeTo } from "../constants.js";
import { dy0, type VjpRule } from "../rule.js";

/** Flatten only regroups elements: dX is dY reshaped to X's static shape. */
export const Flatten: VjpRule = {
  opType: "Flatten",
  grad: (ctx) => {
    const [x] = ctx.node.inputs;
    return [() => reshapeTo(ctx.b, dy0(ctx), ctx.shape(x), ctx.dataType(x))];
  },
};
