import { dy0, type VjpRule } from "../rule.js";

/** y = √x: dx = dy/(2y) (infinite at x = 0, as PyTorch). */
export const Sqrt: VjpRule = {
  opType: "Sqrt",
  grad: (ctx) => {
    const y = ctx.node.outputs[0];
    return [() => ctx.b.op("Div", [ctx.b.op("Mul", [dy0(ctx), ctx.b.scalar(0.5, ctx.dataType(y))]), y])];
  },
};
