import { convGeometry, groupedPatches } from "../ops/nn-window.js";
import { dy0 } from "../rule.js";
import { noPerExample, type PerExampleRule } from "./rule.js";

/**
 * The unfold form: with the patches (im2col) Uᵢ [Cg·K, P] of example i and its δᵢ [Mg, P]
 * per group, gᵢ = δᵢ·Uᵢᵀ — the batch MatMul of the Conv VJP before its sum over the
 * batch. Its squared norm is ⟨UᵢᵀUᵢ, δᵢᵀδᵢ⟩ over P×P Gram matrices (ghost clipping, Li et
 * al. 2022), taken when those are smaller than gᵢ (2P² < Mg·Cg·K, Bu et al. 2023): late,
 * wide layers with few output positions. The bias's is δᵢ summed over the positions.
 */
export const Conv: PerExampleRule = {
  opType: "Conv",
  grad: (ctx, index) => {
    const { node, b } = ctx;
    const g = convGeometry(ctx);
    const ws = ctx.shape(node.inputs[1]);
    const deltas = () => b.reshape(dy0(ctx), [g.n, g.group, g.mg, g.positions]);
    if (index === 1) {
      const inner = g.cg * g.taps;
      const gram = (v: string) => b.op("MatMul", [b.transpose(v, [0, 1, 3, 2]), v]);
      return {
        perExample: () => b.reshape(b.op("MatMul", [deltas(), b.transpose(groupedPatches(ctx, g), [0, 1, 3, 2])]), [g.n, ...ws]),
        squaredNorm:
          2 * g.positions * g.positions < g.mg * inner
            ? () => b.reduceSum(b.op("Mul", [gram(groupedPatches(ctx, g)), gram(deltas())]), [1, 2, 3], false)
            : undefined,
      };
    }
    if (index === 2) return { perExample: () => b.reduceSum(b.reshape(dy0(ctx), [g.n, ws[0], g.positions]), [2], false) };
    return noPerExample(node, index);
  },
};
