import { getFloat } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/** y = x for x > 0, alpha·x otherwise (alpha 0.01): dx = dy or alpha·dy (alpha at the kink, as PyTorch). */
export const LeakyRelu: VjpRule = {
  opType: "LeakyRelu",
  grad: (ctx) => {
    const x = ctx.node.inputs[0];
    const alpha = getFloat(ctx.node, "alpha", 0.01);
    return [
      () => {
        const b = ctx.b;
        const t = ctx.dataType(ctx.node.outputs[0]);
        const g = dy0(ctx);
        return b.op("Where", [b.op("Greater", [x, b.scalar(0, t)]), g, b.op("Mul", [g, b.scalar(alpha, t)])]);
      },
    ];
  },
};
