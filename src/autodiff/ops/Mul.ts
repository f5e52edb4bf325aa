import { dy0, type VjpRule } from "../rule.js";

/** d(a·b) = (dy·b, dy·a), each summed back over its broadcast axes. */
export const Mul: VjpRule = {
  opType: "Mul",
  grad: (ctx) => {
    const [a, b] = ctx.node.inputs;
    return [() => ctx.unbroadcast(ctx.b.op("Mul", [dy0(ctx), b]), a), () => ctx.unbroadcast(ctx.b.op("Mul", [dy0(ctx), a]), b)];
  },
};
