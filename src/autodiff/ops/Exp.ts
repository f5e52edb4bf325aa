import { dy0, type VjpRule } from "../rule.js";

/** y = eˣ: dx = dy·y. */
export const Exp: VjpRule = {
  opType: "Exp",
  grad: (ctx) => [() => ctx.b.op("Mul", [dy0(ctx), ctx.node.outputs[0]])],
};
