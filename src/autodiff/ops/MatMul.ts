import { attr } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";
import { product, reshapeIf, sumTo } from "./nn-window.js";

/**
 * Y = A·B with numpy semantics: batch axes broadcast, a 1-D A is a row [1,K] and a 1-D B
 * a column [K,1], whose unit axis is then dropped from Y. dA = dY·Bᵀ, dB = Aᵀ·dY, each
 * summed over the batch axes its operand was broadcast along. When B has no batch axes
 * (a dense layer), every batch row of A and dY folds into one Gemm with a transpose flag,
 * so no Transpose and no reduction is emitted.
 */
export const MatMul: VjpRule = {
  opType: "MatMul",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [a, bm] = node.inputs;
    const as = ctx.shape(a);
    const bs = ctx.shape(bm);
    const ys = ctx.shape(node.outputs[0]);
    const a2 = as.length === 1 ? [1, as[0]] : as;
    const b2 = bs.length === 1 ? [bs[0], 1] : bs;
    const [m, k] = a2.slice(-2);
    const n = b2[b2.length - 1];
    const batch = ys.slice(0, ys.length - (as.length === 1 ? 0 : 1) - (bs.length === 1 ? 0 : 1));
    const y2 = [...batch, m, n];
    const rows = product(batch) * m;
    const gemm = (p: string, q: string, tp: boolean, tq: boolean) => b.op("Gemm", [p, q], { transA: attr.int(tp ? 1 : 0), transB: attr.int(tq ? 1 : 0) });
    const swapLast = (rank: number) => [...Array.from({ length: rank - 2 }, (_, i) => i), rank - 1, rank - 2];

    return [
      () => {
        if (b2.length === 2) {
          // [rows, N] · Bᵀ → [rows, K], which is A's batch and row axes flattened.
          const g = gemm(reshapeIf(b, dy0(ctx), ys, [rows, n]), reshapeIf(b, bm, bs, b2), false, true);
          return reshapeIf(b, g, [rows, k], as);
        }
        const g = b.op("MatMul", [reshapeIf(b, dy0(ctx), ys, y2), b.transpose(bm, swapLast(b2.length))]);
        return reshapeIf(b, sumTo(b, g, [...batch, m, k], a2), a2, as);
      },
      () => {
        if (b2.length === 2) {
          // Σ over every batch row: Aᵀ[K, rows] · dY[rows, N].
          const g = gemm(reshapeIf(b, a, as, [rows, k]), reshapeIf(b, dy0(ctx), ys, [rows, n]), true, false);
          return reshapeIf(b, g, [k, n], bs);
        }
        const aT = as.length === 1 ? b.reshape(a, [k, 1]) : b.transpose(a, swapLast(a2.length));
        const g = b.op("MatMul", [aT, reshapeIf(b, dy0(ctx), ys, y2)]);
        return reshapeIf(b, sumTo(b, g, [...batch, k, n], b2), b2, bs);
      },
    ];
  },
};
