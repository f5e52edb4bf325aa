import { getFloat, getInt } from "../../onnx/ir.js";
import { dy0, unsupported } from "../rule.js";
import { noPerExample, type PerExampleRule, perExampleSum } from "./rule.js";

/**
 * Y = α·A·op(B) + β·C with the examples as the rows of A: example i's weight gradient is
 * the outer product α·aᵢ ⊗ δᵢ (transposed when transB), whose squared norm is
 * α²·‖aᵢ‖²·‖δᵢ‖² — exact, so the norms never need the N×|B| products; C's is β·δᵢ.
 */
export const Gemm: PerExampleRule = {
  opType: "Gemm",
  grad: (ctx, index) => {
    const { node, b } = ctx;
    const [a, , c] = node.inputs;
    if (getInt(node, "transA", 0) === 1) unsupported(node, "transA=1 (examples along the columns of A), for per-example gradients");
    const alpha = getFloat(node, "alpha", 1);
    const beta = getFloat(node, "beta", 1);
    const dt = ctx.dataType(node.outputs[0]);
    const scaled = (g: string, k: number) => (k === 1 ? g : b.op("Mul", [g, b.scalar(k, dt)]));
    if (index === 1) {
      const transB = getInt(node, "transB", 0) === 1;
      return {
        perExample: () => {
          const [row, column] = transB ? [dy0(ctx), a] : [a, dy0(ctx)];
          return scaled(b.op("Mul", [b.unsqueeze(row, [2]), b.unsqueeze(column, [1])]), alpha);
        },
        squaredNorm: () => scaled(b.op("Mul", [b.reduceSumSquare(a, [1], false), b.reduceSumSquare(dy0(ctx), [1], false)]), alpha * alpha),
      };
    }
    if (index === 2) return { perExample: () => perExampleSum(b, node, scaled(dy0(ctx), beta), ctx.shape(c), ctx.shape(node.outputs[0])) };
    return noPerExample(node, index);
  },
};
