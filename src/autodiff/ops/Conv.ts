import { getInt, getInts } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";
import { axesButChannel, extent, forwardWindow, product, spreadBack, unfold, windowCount } from "./nn-window.js";

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
    const [x, w, bias] = node.inputs;
    const xs = ctx.shape(x);
    const ws = ctx.shape(w);
    const ys = ctx.shape(node.outputs[0]);
    const group = getInt(node, "group", 1);
    const kernel = ws.slice(2);
    const declared = getInts(node, "kernel_shape");
    if (declared?.some((k, i) => k !== kernel[i])) unsupported(node, "a kernel_shape that differs from the weight's shape");
    if (xs[1] !== ws[1] * group || ws[0] % group !== 0) unsupported(node, `group=${group} with ${xs[1]} input and ${ws[0]} output channels`);
    const inSp = xs.slice(2);
    const outSp = ys.slice(2);
    const win = forwardWindow(node, kernel, inSp, outSp);
    for (let i = 0; i < kernel.length; i++) {
      if (windowCount(inSp[i], extent(win, i), win.strides[i], win.begin[i], win.end[i]) !== outSp[i]) {
        unsupported(node, `output size ${outSp[i]} on spatial axis ${i} that its pads and strides do not explain`);
      }
    }
    const rank = xs.length;
    const [n, c] = xs;
    const cg = c / group;
    const mg = ws[0] / group;
    const taps = product(kernel);
    const positions = product(outSp);

    return [
      // One node. (At stride 1 a Conv with the flipped kernel also works; it measured no faster in whole graphs.)
      () => spreadBack(b, dy0(ctx), w, win, group, inSp, outSp),
      () => {
        // dW per group is dY [Mg, P] · patchesᵀ [P, Cg·K] summed over the batch. One MatMul per
        // sample, then a sum, when that product is no larger than the patches (Mg ≤ P);
        // otherwise the batch folds into the inner dimension, at the price of two Transposes.
        const cols = b.reshape(unfold(b, node, x, xs, ctx.dataType(x), win, outSp), [n, group, cg * taps, positions]);
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
