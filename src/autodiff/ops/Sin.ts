import { dy0, type VjpRule } from "../rule.js";

/** y = sin x: dx = dy·cos x. */
export const Sin: VjpRule = {
  opType: "Sin",
  grad: (ctx) => [() => ctx.b.op("Mul", [dy0(ctx), ctx.b.op("Cos", [ctx.node.inputs[0]])])],
};
