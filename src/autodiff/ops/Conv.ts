import { dy0, type VjpRule } from "../rule.js";
import { axesButChannel, convGeometry, groupedPatches, spreadBack } from "./nn-window.js";

/**
 * Y[n,m,o] = Σ_{c∈group(m), j} X̃[n,c,o·s + j·d] · W[m,c,j] + B[m], X̃ = X padded.
 * dX = ConvTranspose(dY, W) with the same window (the adjoint of the gather);
 * dW[m,c,j] = Σ_{n,o} X̃[n,c,j·d + o·s] dY[n,m,o] = Σₙ dYₙ · patchesₙᵀ with the patches
 * (im2col) of X̃: a MatMul. (A Conv over X with batch and channels swapped and dY as the
 * kernel computes the same, but ONNX Runtime runs that 24×24-kernel Conv 3× slower in the
 * MNIST CNN.) dB = Σ dY over all axes but 1.
 * Any spatial rank ORT accepts (1-D, 2-D, 3-D), groups, every auto_pad.
 */
export const Conv: VjpRule = {
  opType: "Conv",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [, w, bias] = node.inputs;
    const geometry = convGeometry(ctx);
    const { win, group, inSp, outSp, n, cg, mg, taps, positions } = geometry;
    const ws = ctx.shape(w);
    const rank = inSp.length + 2;

    return [
      // One node. (At stride 1 a Conv with the flipped kernel also works; it measured no faster in whole graphs.)
      () => spreadBack(b, dy0(ctx), w, win, group, inSp, outSp),
      () => {
        // dW per group is dY [Mg, P] · patchesᵀ [P, Cg·K] summed over the batch. One MatMul per
        // sample, then a sum, when that product is no larger than the patches (Mg ≤ P);
        // otherwise the batch folds into the inner dimension, at the price of two Transposes.
        const cols = groupedPatches(ctx, geometry);
        const dy = b.reshape(dy0(ctx), [n, group, mg, positions]);
        if (mg <= positions) {
          const perSample = b.op("MatMul", [dy, b.transpose(cols, [0, 1, 3, 2])]);
          return b.reshape(b.reduceSum(perSample, [0], false), ws);
        }
        const dyG = b.reshape(b.transpose(dy, [1, 2, 0, 3]), [group, mg, n * positions]);
        const colsG = b.reshape(b.transpose(cols, [1, 0, 3, 2]), [group, n * positions, cg * taps]);
        return b.reshape(b.op("MatMul", [dyG, colsG]), ws);
      },
      bias ? () => b.reduceSum(dy0(ctx), axesButChannel(rank), false) : undefined,
    ];
  },
};
