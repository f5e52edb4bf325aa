import { dy0, unsupported } from "../rule.js";
import { noPerExample, type PerExampleRule } from "./rule.js";

/**
 * Y = A·B, A [N, …, K] with the examples first and a 2-D parameter B [K, E]. With Aᵢ and δᵢ
 * example i's rows as [T, K] and [T, E], gᵢ = Aᵢᵀ·δᵢ: one batched MatMul. Its squared norm
 * is ⟨AᵢAᵢᵀ, δᵢδᵢᵀ⟩ (Li et al. 2022's ghost norm), taken when the two T×T Gram matrices are
 * smaller than gᵢ (2T² < K·E, Bu et al. 2023's rule); for T = 1 it is ‖aᵢ‖²·‖δᵢ‖².
 */
export const MatMul: PerExampleRule = {
  opType: "MatMul",
  grad: (ctx, index) => {
    const { node, b } = ctx;
    const [a, w] = node.inputs;
    if (index !== 1) return noPerExample(node, index);
    const as = ctx.shape(a);
    const ws = ctx.shape(w);
    if (ws.length !== 2 || as.length < 2) unsupported(node, `operands of rank ${as.length} and ${ws.length}, for per-example gradients`);
    const [n, k, e] = [as[0], ws[0], ws[1]];
    const t = as.slice(1, -1).reduce((p, d) => p * d, 1);
    const rows = () => b.reshape(a, [n, t, k]);
    const deltas = () => b.reshape(dy0(ctx), [n, t, e]);
    const gram = (v: string) => b.op("MatMul", [v, b.transpose(v, [0, 2, 1])]);
    return {
      perExample: () => b.op("MatMul", [b.transpose(rows(), [0, 2, 1]), deltas()]),
      squaredNorm:
        t === 1
          ? () => b.op("Mul", [b.reduceSumSquare(rows(), [1, 2], false), b.reduceSumSquare(deltas(), [1, 2], false)])
          : 2 * t * t < k * e
            ? () => b.reduceSum(b.op("Mul", [gram(rows()), gram(deltas())]), [1, 2], false)
            : undefined,
    };
  },
};
