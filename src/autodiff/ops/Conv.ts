import { attr, getInt, getInts } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";
import { axesButChannel, extent, forwardWindow, permute, spreadBack, windowCount } from "./nn-window.js";

/**
 * Y[n,m,o] = Σ_{c∈group(m), j} X̃[n,c,o·s + j·d] · W[m,c,j] + B[m], X̃ = X padded.
 * dX = ConvTranspose(dY, W) with the same window (the adjoint of the gather);
 * dW[m,c,j] = Σ_{n,o} X̃[n,c,j·d + o·s] dY[n,m,o]: a Conv over X with batch and channels
 * swapped, dY as the kernel, strides and dilations swapped; dB = Σ dY over all axes but 1.
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
    const spatial = Array.from({ length: rank - 2 }, (_, i) => i + 2);

    const [n, c] = xs;
    const cg = c / group;

    return [
      // One node. (At stride 1 a Conv with the flipped kernel also works; it measured no faster in whole graphs.)
      () => spreadBack(b, dy0(ctx), w, win, group, inSp, outSp),
      () => {
        // X as [C/g, g·N, …]: group g's channels meet group g's slice of dY in one grouped Conv.
        const grouped = [n, group, cg, ...inSp];
        const xT =
          group === 1
            ? permute(b, x, xs, [1, 0, ...spatial])
            : b.reshape(permute(b, b.reshape(x, grouped), grouped, [2, 1, 0, ...spatial.map((a) => a + 1)]), [cg, group * n, ...inSp]);
        const dyT = permute(b, dy0(ctx), ys, [1, 0, ...spatial]);
        // The dW conv's window is dY's extent at stride s; trailing pad rows beyond the
        // last kernel tap would only add outputs to crop, so they are dropped first.
        const tail: number[] = [];
        const over: number[] = [];
        for (let i = 0; i < kernel.length; i++) {
          const excess = inSp[i] + win.begin[i] + win.end[i] - ((outSp[i] - 1) * win.strides[i] + 1) - (kernel[i] - 1) * win.dilations[i];
          const cut = Math.min(win.end[i], excess);
          tail.push(win.end[i] - cut);
          over.push(Math.floor((excess - cut) / win.dilations[i]));
        }
        let g = b.op("Conv", [xT, dyT], {
          strides: attr.ints(win.dilations),
          dilations: attr.ints(win.strides),
          pads: attr.ints([...win.begin, ...tail]),
          group: attr.int(group),
        });
        const zeros = kernel.map(() => 0);
        if (over.some((o) => o > 0)) g = b.slice(g, zeros, kernel, spatial);
        return permute(b, g, [cg, ws[0], ...kernel], [1, 0, ...spatial]);
      },
      bias ? () => b.reduceSum(dy0(ctx), axesButChannel(rank), false) : undefined,
    ];
  },
};
