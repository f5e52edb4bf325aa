import { dy0, type VjpRule } from "../rule.js";

/** y = tanh x: dx = dy·(1−y²). */
export const Tanh: VjpRule = {
  opType: "Tanh",
  grad: (ctx) => {
    const y = ctx.node.outputs[0];
    return [
      () => {
        const b = ctx.b;
        const oneMinusY2 = b.op("Sub", [b.scalar(1, ctx.dataType(y)), b.op("Mul", [y, y])]);
        return b.op("Mul", [dy0(ctx), oneMinusY2]);
      },
    ];
  },
};
