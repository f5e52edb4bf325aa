import { dy0, type VjpRule } from "../rule.js";

/**
 * y = x for x > 0, slope·x otherwise, slope broadcast to x (torch's nn.PReLU: [C, 1, 1]):
 * dx = dy or slope·dy (slope at 0, as PyTorch); dslope = x·dy where x ≤ 0, summed back
 * over the axes the slope was broadcast along.
 */
export const PRelu: VjpRule = {
  opType: "PRelu",
  grad: (ctx) => {
    const [x, slope] = ctx.node.inputs;
    const positive = () => ctx.b.op("Greater", [x, ctx.b.scalar(0, ctx.dataType(x))]);
    return [
      () => ctx.b.op("Where", [positive(), dy0(ctx), ctx.b.op("Mul", [dy0(ctx), slope])]),
      () => {
        const b = ctx.b;
        const onNegative = b.op("Where", [positive(), b.scalar(0, ctx.dataType(x)), b.op("Mul", [dy0(ctx), x])]);
        return ctx.unbroadcast(onNegative, slope);
      },
    ];
  },
};
