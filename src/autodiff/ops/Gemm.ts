import { attr, getFloat, getInt } from "../../onnx/ir.js";
import { dy0, type VjpRule } from "../rule.js";

/**
 * Y = alpha·op(A)·op(B) + beta·C, op = optional transpose (A, B are 2-D).
 * dA = alpha·dY·op(B)ᵀ (transposed back if transA), dB likewise, dC = beta·dY summed to C's shape.
 */
export const Gemm: VjpRule = {
  opType: "Gemm",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [a, bb, c] = node.inputs;
    const alpha = getFloat(node, "alpha", 1);
    const beta = getFloat(node, "beta", 1);
    const transA = getInt(node, "transA", 0) === 1;
    const transB = getInt(node, "transB", 0) === 1;
    const scaled = (g: string, k: number) => (k === 1 ? g : b.op("Mul", [g, b.scalar(k, ctx.dataType(node.outputs[0]))]));
    // A Gemm with both flags expresses X·Yᵀ etc. in one node, with no Transpose emitted.
    const gemm = (x: string, y: string, tx: boolean, ty: boolean, k: number) =>
      b.op("Gemm", [x, y], { alpha: attr.float(k), transA: attr.int(tx ? 1 : 0), transB: attr.int(ty ? 1 : 0) });
    return [
      // dA (M×K) = dY (M×N) · op(B)ᵀ; stored transposed when transA: dAᵀ = op(B) · dYᵀ.
      () => (transA ? gemm(bb, dy0(ctx), transB, true, alpha) : gemm(dy0(ctx), bb, false, !transB, alpha)),
      // dB (K×N) = op(A)ᵀ · dY; stored transposed when transB: dBᵀ = dYᵀ · op(A).
      () => (transB ? gemm(dy0(ctx), a, true, transA, alpha) : gemm(a, dy0(ctx), !transA, false, alpha)),
      c ? () => ctx.unbroadcast(scaled(dy0(ctx), beta), c) : undefined,
    ];
  },
};
