import { getFloat } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/** y = x for x > 0, alpha·(eˣ−1) otherwise (alpha 1): dx = dy, or dy·alpha·eˣ = dy·(y+alpha). */
export const Elu: VjpRule = {
  opType: "Elu",
  grad: (ctx) => {
    const x = ctx.node.inputs[0];
    const y = ctx.node.outputs[0];
    const alpha = getFloat(ctx.node, "alpha", 1);
    return [
      () => {
        const b = ctx.b;
        const t = ctx.dataType(y);
        const g = dy0(ctx);
        const negative = b.op("Mul", [g, b.op("Add", [y, b.scalar(alpha, t)])]);
        return b.op("Where", [b.op("Greater", [x, b.scalar(0, t)]), g, negative]);
      },
    ];
  },
};
