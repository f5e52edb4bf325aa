import { dy0, type VjpRule } from "../rule.js";

/** dx = dy·sign(x) (0 at the kink, as PyTorch). */
export const Abs: VjpRule = {
  opType: "Abs",
  grad: (ctx) => [() => ctx.b.op("Mul", [dy0(ctx), ctx.b.op("Sign", [ctx.node.inputs[0]])])],
};
