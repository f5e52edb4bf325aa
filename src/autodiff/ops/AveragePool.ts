import { getInt, getInts } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";
import { floatConst, forwardWindow, spreadBack, type Window } from "./nn-window.js";

/**
 * Y[o] = (1/count[o]) Σ_{j} X̃[o·s + j·d]: linear, so dX = the window spread (a depthwise
 * ConvTranspose with a kernel of ones) of dY/count. count[o] is static: the taps of window
 * o inside X (count_include_pad=0) or inside the padded X (=1; as ONNX Runtime and
 * PyTorch do, taps past the end pad that ceil_mode adds are not counted). When every
 * window has the same count, 1/count goes into the kernel and no Mul is emitted.
 */
export const AveragePool: VjpRule = {
  opType: "AveragePool",
  grad: (ctx) => {
    const { node, b } = ctx;
    const x = node.inputs[0];
    const xs = ctx.shape(x);
    const ys = ctx.shape(node.outputs[0]);
    const dt = ctx.dataType(x);
    const kernel = getInts(node, "kernel_shape");
    if (!kernel) return unsupported(node, "no kernel_shape");
    const inSp = xs.slice(2);
    const outSp = ys.slice(2);
    const win = forwardWindow(node, kernel, inSp, outSp);
    const includePad = getInt(node, "count_include_pad", 0) === 1;

    return [
      () => {
        const counts = windowCounts(win, inSp, outSp, includePad);
        const c = xs[1];
        const taps = kernel.reduce((p, k) => p * k, 1);
        const uniform = counts.every((v) => v === counts[0]);
        const weight = floatConst(b, node, dt, [c, 1, ...kernel], new Array<number>(c * taps).fill(uniform ? 1 / counts[0] : 1));
        const scaled = uniform
          ? dy0(ctx)
          : b.op("Mul", [
              dy0(ctx),
              floatConst(
                b,
                node,
                dt,
                outSp,
                counts.map((v) => (v === 0 ? 0 : 1 / v)),
              ),
            ]);
        return spreadBack(b, scaled, weight, win, c, inSp, outSp);
      },
    ];
  },
};

/** Divisor of every output position, row-major over the spatial output axes. */
function windowCounts(w: Window, inSp: readonly number[], outSp: readonly number[], includePad: boolean): number[] {
  // A window is a box, so its count is the product of per-axis counts.
  const perAxis = outSp.map((o, i) =>
    Array.from({ length: o }, (_, k) => {
      let n = 0;
      for (let j = 0; j < w.kernel[i]; j++) {
        const p = k * w.strides[i] - w.begin[i] + j * w.dilations[i];
        if (includePad ? p < inSp[i] + w.end[i] : p >= 0 && p < inSp[i]) n++;
      }
      return n;
    }),
  );
  let counts = [1];
  for (const axis of perAxis) counts = counts.flatMap((c) => axis.map((a) => c * a));
  return counts;
}
