import { attr, getInt, getInts, getString } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";
import { axesButChannel, permute, windowCount } from "./nn-window.js";

/**
 * Y[n,m,t] = Σ_{c, i, j : i·s + j·d − pad = t} X[n,c,i] · W[c,m',j] + B[m] (m' = m within
 * its group): the adjoint of a Conv with the same window. Hence dX = Conv(dY, W) with
 * the same strides, dilations, pads and group; dW[c,m',j] = Σ_{n,i} X[n,c,i] · dỸ[n,m,i·s + j·d]
 * (dỸ = dY padded): a Conv over dY with batch and channels swapped, X as the kernel,
 * strides and dilations swapped; dB = Σ dY over all axes but 1.
 * output_shape and SAME auto_pad are supported when they imply symmetric pads.
 */
export const ConvTranspose: VjpRule = {
  opType: "ConvTranspose",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x, w, bias] = node.inputs;
    const xs = ctx.shape(x);
    const ws = ctx.shape(w);
    const ys = ctx.shape(node.outputs[0]);
    const group = getInt(node, "group", 1);
    const kernel = ws.slice(2);
    const r = kernel.length;
    const declared = getInts(node, "kernel_shape");
    if (declared?.some((k, i) => k !== kernel[i])) unsupported(node, "a kernel_shape that differs from the weight's shape");
    if (xs[1] !== ws[0] || xs[1] % group !== 0 || ys[1] !== ws[1] * group) unsupported(node, `group=${group} with these channel counts`);
    const strides = getInts(node, "strides") ?? new Array<number>(r).fill(1);
    const dilations = getInts(node, "dilations") ?? new Array<number>(r).fill(1);
    const outputPadding = getInts(node, "output_padding") ?? new Array<number>(r).fill(0);
    if (strides.length !== r || dilations.length !== r || outputPadding.length !== r) unsupported(node, "strides/dilations/output_padding of the wrong length");
    const inSp = xs.slice(2);
    const outSp = ys.slice(2);
    const span = (i: number) => (kernel[i] - 1) * dilations[i] + 1;
    // Full (uncropped) output length minus the probed one is the total crop.
    const total = (i: number) => strides[i] * (inSp[i] - 1) + outputPadding[i] + span(i) - outSp[i];

    let begin: number[];
    let end: number[];
    const autoPad = getString(node, "auto_pad", "NOTSET");
    if (getInts(node, "output_shape") || autoPad === "SAME_UPPER" || autoPad === "SAME_LOWER") {
      // Which side ORT puts an odd pixel on has varied between versions: only symmetric crops are certain.
      begin = [];
      for (let i = 0; i < r; i++) {
        if (total(i) < 0 || total(i) % 2 !== 0) unsupported(node, "output_shape or SAME auto_pad that implies asymmetric or negative pads");
        begin.push(total(i) / 2);
      }
      end = [...begin];
    } else if (autoPad === "VALID") {
      begin = new Array<number>(r).fill(0);
      end = [...begin];
    } else if (autoPad === "NOTSET") {
      const pads = getInts(node, "pads") ?? new Array<number>(2 * r).fill(0);
      begin = pads.slice(0, r);
      end = pads.slice(r);
    } else {
      return unsupported(node, `auto_pad "${autoPad}"`);
    }
    for (let i = 0; i < r; i++) {
      if (begin[i] + end[i] !== total(i)) unsupported(node, `output size ${outSp[i]} on spatial axis ${i} that its pads do not explain`);
    }
    const spatial = Array.from({ length: r }, (_, i) => i + 2);

    // Tail pad rows past the last useful position only add outputs to crop: drop them,
    // then crop what remains. Per axis: the conv's window span, its stride, the size wanted.
    const trimmed = (reach: number[], stride: number[], want: number[]) => {
      const tail: number[] = [];
      let over = false;
      for (let i = 0; i < r; i++) {
        const excess = outSp[i] + begin[i] + end[i] - reach[i] - (want[i] - 1) * stride[i];
        tail.push(end[i] - Math.min(end[i], excess - (excess % stride[i])));
        over ||= windowCount(outSp[i], reach[i], stride[i], begin[i], tail[i]) > want[i];
      }
      return { tail, crop: (g: string) => (over ? b.slice(g, new Array<number>(r).fill(0), want, spatial) : g) };
    };

    return [
      () => {
        const { tail, crop } = trimmed(
          kernel.map((_, i) => span(i)),
          strides,
          inSp,
        );
        const g = b.op("Conv", [dy0(ctx), w], {
          kernel_shape: attr.ints(kernel),
          strides: attr.ints(strides),
          dilations: attr.ints(dilations),
          pads: attr.ints([...begin, ...tail]),
          group: attr.int(group),
        });
        return crop(g);
      },
      () => {
        const n = xs[0];
        const mg = ys[1] / group;
        // dY as [M/g, g·N, …] so that one grouped Conv pairs each group's channels.
        const grouped = [n, group, mg, ...outSp];
        const dyT =
          group === 1
            ? permute(b, dy0(ctx), ys, [1, 0, ...spatial])
            : b.reshape(permute(b, b.reshape(dy0(ctx), grouped), grouped, [2, 1, 0, ...spatial.map((a) => a + 1)]), [mg, group * n, ...outSp]);
        const xT = permute(b, x, xs, [1, 0, ...spatial]);
        const { tail, crop } = trimmed(
          inSp.map((d, i) => strides[i] * (d - 1) + 1),
          dilations,
          kernel,
        );
        const g = b.op("Conv", [dyT, xT], {
          strides: attr.ints(dilations),
          dilations: attr.ints(strides),
          pads: attr.ints([...begin, ...tail]),
          group: attr.int(group),
        });
        return permute(b, crop(g), [mg, xs[1], ...kernel], [1, 0, ...spatial]);
      },
      bias ? () => b.reduceSum(dy0(ctx), axesButChannel(xs.length), false) : undefined,
    ];
  },
};
