import { dy0, type VjpRule } from "../rule.js";

/**
 * y = x·tanh(softplus(x)) (opset 18; torch exports this form at lower opsets):
 * dx = dy·(t + x·σ(x)·(1 − t²)), t = tanh(softplus(x)), since softplus′ = σ.
 */
export const Mish: VjpRule = {
  opType: "Mish",
  grad: (ctx) => {
    const x = ctx.node.inputs[0];
    return [
      () => {
        const b = ctx.b;
        const t = b.op("Tanh", [b.op("Softplus", [x])]);
        const one = b.scalar(1, ctx.dataType(x));
        const slope = b.op("Add", [t, b.op("Mul", [b.op("Mul", [x, b.op("Sigmoid", [x])]), b.op("Sub", [one, b.op("Mul", [t, t])])])]);
        return b.op("Mul", [dy0(ctx), slope]);
      },
    ];
  },
};
