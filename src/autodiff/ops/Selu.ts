import { getFloat } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * y = gamma·x for x > 0, gamma·alpha·(eˣ−1) otherwise (defaults: the float32 roundings of SELU's constants):
 * dx = gamma·dy, or dy·gamma·alpha·eˣ = dy·(y + gamma·alpha).
 */
export const Selu: VjpRule = {
  opType: "Selu",
  grad: (ctx) => {
    const x = ctx.node.inputs[0];
    const y = ctx.node.outputs[0];
    const alpha = getFloat(ctx.node, "alpha", Math.fround(1.6732632423543772));
    const gamma = getFloat(ctx.node, "gamma", Math.fround(1.0507009873554805));
    return [
      () => {
        const b = ctx.b;
        const t = ctx.dataType(y);
        const g = dy0(ctx);
        const positive = b.op("Mul", [g, b.scalar(gamma, t)]);
        const negative = b.op("Mul", [g, b.op("Add", [y, b.scalar(gamma * alpha, t)])]);
        return b.op("Where", [b.op("Greater", [x, b.scalar(0, t)]), positive, negative]);
      },
    ];
  },
};
