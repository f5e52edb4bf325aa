import { dy0, type VjpRule } from "../rule.js";

/** y = erf x: dx = dy·(2/√π)·e^(−x²). */
export const Erf: VjpRule = {
  opType: "Erf",
  grad: (ctx) => {
    const x = ctx.node.inputs[0];
    return [
      () => {
        const b = ctx.b;
        const t = ctx.dataType(ctx.node.outputs[0]);
        const gauss = b.op("Exp", [b.op("Neg", [b.op("Mul", [x, x])])]);
        return b.op("Mul", [dy0(ctx), b.op("Mul", [gauss, b.scalar(2 / Math.sqrt(Math.PI), t)])]);
      },
    ];
  },
};
