import { dy0, type VjpRule } from "../rule.js";

/** y = cos x: dx = −dy·sin x. */
export const Cos: VjpRule = {
  opType: "Cos",
  grad: (ctx) => [() => ctx.b.op("Neg", [ctx.b.op("Mul", [dy0(ctx), ctx.b.op("Sin", [ctx.node.inputs[0]])])])],
};
