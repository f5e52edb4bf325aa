import { dy0, type VjpRule } from "../rule.js";

/** y = σ(x): dx = dy·y·(1−y). */
export const Sigmoid: VjpRule = {
  opType: "Sigmoid",
  grad: (ctx) => {
    const y = ctx.node.outputs[0];
    return [
      () => {
        const b = ctx.b;
        const oneMinusY = b.op("Sub", [b.scalar(1, ctx.dataType(y)), y]);
        return b.op("Mul", [dy0(ctx), b.op("Mul", [y, oneMinusY])]);
      },
    ];
  },
};
