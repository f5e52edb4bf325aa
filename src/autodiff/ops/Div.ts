import { dy0, type VjpRule } from "../rule.js";

/** y = a/b: da = dy/b, db = −dy·a/b² = −dy·y/b, each summed back over its broadcast axes. */
export const Div: VjpRule = {
  opType: "Div",
  grad: (ctx) => {
    const { b } = ctx;
    const [x, d] = ctx.node.inputs;
    const y = ctx.node.outputs[0];
    return [() => ctx.unbroadcast(b.op("Div", [dy0(ctx), d]), x), () => ctx.unbroadcast(b.op("Neg", [b.op("Mul", [dy0(ctx), b.op("Div", [y, d])])]), d)];
  },
};
