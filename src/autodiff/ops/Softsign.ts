import { dy0, type VjpRule } from "../rule.js";

/** y = x/(1 + |x|): dx = dy/(1 + |x|)². */
export const Softsign: VjpRule = {
  opType: "Softsign",
  grad: (ctx) => [
    () => {
      const b = ctx.b;
      const x = ctx.node.inputs[0];
      const denominator = b.op("Add", [b.op("Abs", [x]), b.scalar(1, ctx.dataType(x))]);
      return b.op("Div", [dy0(ctx), b.op("Mul", [denominator, denominator])]);
    },
  ],
};
