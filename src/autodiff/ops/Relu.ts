import { dy0, type VjpRule } from "../rule.js";

/** dx = dy where y > 0 (0 at the kink, as PyTorch). */
export const Relu: VjpRule = {
  opType: "Relu",
  grad: (ctx) => {
    const y = ctx.node.outputs[0];
    return [
      () => {
        const b = ctx.b;
        const positive = b.op("Greater", [y, b.scalar(0, ctx.dataType(y))]);
        return b.op("Mul", [dy0(ctx), b.cast(positive, ctx.dataType(y))]);
      },
    ];
  },
};
