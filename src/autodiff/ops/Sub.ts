import { dy0, type VjpRule } from "../rule.js";

/** d(a−b) = (dy, −dy), each summed back over its broadcast axes. */
export const Sub: VjpRule = {
  opType: "Sub",
  grad: (ctx) => {
    const [a, b] = ctx.node.inputs;
    return [() => ctx.unbroadcast(dy0(ctx), a), () => ctx.unbroadcast(ctx.b.op("Neg", [dy0(ctx)]), b)];
  },
};
