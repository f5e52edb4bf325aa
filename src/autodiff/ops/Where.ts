import { dy0, type VjpRule } from "../rule.js";

/**
 * dX = dY where the condition holds, dY' = dY where it does not, each summed back over
 * the axes along which X or Y was broadcast. The condition has no gradient.
 */
export const Where: VjpRule = {
  opType: "Where",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [cond, x, y] = node.inputs;
    const zero = () => b.scalar(0, ctx.dataType(node.outputs[0]));
    return [undefined, () => ctx.unbroadcast(b.op("Where", [cond, dy0(ctx), zero()]), x), () => ctx.unbroadcast(b.op("Where", [cond, zero(), dy0(ctx)]), y)];
  },
};
