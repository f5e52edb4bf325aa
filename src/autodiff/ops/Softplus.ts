import { dy0, type VjpRule } from "../rule.js";

/** y = ln(1+eˣ): dx = dy·σ(x). */
export const Softplus: VjpRule = {
  opType: "Softplus",
  grad: (ctx) => [() => ctx.b.op("Mul", [dy0(ctx), ctx.b.op("Sigmoid", [ctx.node.inputs[0]])])],
};
