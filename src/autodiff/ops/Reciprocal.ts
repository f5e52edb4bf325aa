import { dy0, type VjpRule } from "../rule.js";

/** y = 1/x: dx = −dy·y². */
export const Reciprocal: VjpRule = {
  opType: "Reciprocal",
  grad: (ctx) => {
    const y = ctx.node.outputs[0];
    return [() => ctx.b.op("Neg", [ctx.b.op("Mul", [dy0(ctx), ctx.b.op("Mul", [y, y])])])];
  },
};
