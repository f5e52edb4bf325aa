import type { GraphBuilder } from "../../onnx/builder.js";
import { type Attribute, attr, DataType, getInt, getInts, type Node } from "../../onnx/ir.js";
import { zerosOf } from "../constants.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";
import { extent, floatConst, forwardWindow, oneHot, product, spreadBack, type Window } from "./nn-window.js";

/**
 * Y[o] = X[argmax of window o]: dX[i] = Σ_{o : argmax(o) = i} dY[o]. The argmaxes come from
 * the pool recomputed with its Indices output (flat over the whole N·C·spatial tensor,
 * one per window, so ties route to one element as in PyTorch), and dY is scattered
 * into zeros at them: by MaxUnpool when windows do not overlap. Overlapping windows can
 * share an argmax, so the scatter must add: ScatterElements reduction="add" from
 * opset 16, a col2im through a depthwise ConvTranspose below (see col2im).
 */
export const MaxPool: VjpRule = {
  opType: "MaxPool",
  grad: (ctx) => {
    const { node, b } = ctx;
    const x = node.inputs[0];
    if (getInt(node, "storage_order", 0) !== 0) unsupported(node, "storage_order=1");
    const xs = ctx.shape(x);
    const ys = ctx.shape(node.outputs[0]);
    const dt = ctx.dataType(x);
    const kernel = getInts(node, "kernel_shape");
    if (!kernel) return unsupported(node, "no kernel_shape");
    const inSp = xs.slice(2);
    const outSp = ys.slice(2);
    const win = forwardWindow(node, kernel, inSp, outSp);
    // Windows overlap when, along some axis with two or more of them, one starts before the previous one ends.
    const overlapping = kernel.some((_, i) => outSp[i] > 1 && win.strides[i] < extent(win, i));

    return [
      () => {
        const dy = dy0(ctx);
        const indices = node.outputs[1] ? node.outputs[1] : b.node("MaxPool", [x], node.attributes, 2)[1];
        if (!overlapping) {
          // Distinct indices: MaxUnpool is that scatter in one node, faster than ScatterElements.
          // Its pads only enter ORT's check that X's shape holds the unpooled one
          // ((O − 1)·s + k − pads ≤ in, each pad < k), so they are chosen to pass it.
          const crop = kernel.map((k, i) => Math.max(0, (outSp[i] - 1) * win.strides[i] + k - inSp[i]));
          const head = crop.map((t, i) => Math.min(t, kernel[i] - 1));
          const tail = crop.map((t, i) => t - head[i]);
          if (tail.every((t, i) => t < kernel[i])) {
            return b.op("MaxUnpool", [dy, indices, b.int64s(xs)], {
              kernel_shape: attr.ints(kernel),
              strides: attr.ints(win.strides),
              pads: attr.ints([...head, ...tail]),
            });
          }
        }
        if (!overlapping || b.opset >= 16) {
          const attrs: Record<string, Attribute> = { axis: attr.int(0) };
          if (overlapping) attrs.reduction = attr.string("add");
          const flat = b.op("ScatterElements", [zerosOf(b, [product(xs)], dt), b.reshape(indices, [-1]), b.reshape(dy, [-1])], attrs);
          return b.reshape(flat, xs);
        }
        return col2im(b, node, indices, dy, win, xs, outSp, dt);
      },
    ];
  },
};

/**
 * dX without a scatter: each window's argmax offset (its kernel tap) selects one of
 * C·taps channels of a one-hot-weighted dY, and a depthwise ConvTranspose whose kernel
 * for channel (c, t) is the unit tap t puts every window's dY back where its max was,
 * adding where windows share an element.
 */
function col2im(b: GraphBuilder, node: Node, indices: string, dy: string, win: Window, xs: number[], outSp: number[], dt: DataType): string {
  const inSp = xs.slice(2);
  const r = inSp.length;
  const plane = product(inSp);
  // Indices are flat over N·C·spatial: keep the position inside the plane, then split it per axis.
  let rest = product(xs) === plane ? indices : b.op("Mod", [indices, b.int64s([plane])]);
  let tap: string | undefined;
  for (let i = 0; i < r; i++) {
    const inner = product(inSp.slice(i + 1));
    const coord = i === r - 1 ? rest : b.op("Div", [rest, b.int64s([inner])]);
    if (i < r - 1) rest = b.op("Mod", [rest, b.int64s([inner])]);
    // Window origins along axis i, shaped to broadcast over the later output axes.
    const origins = BigInt64Array.from({ length: outSp[i] }, (_, o) => BigInt(o * win.strides[i] - win.begin[i]));
    const originShape = [outSp[i], ...new Array<number>(r - 1 - i).fill(1)];
    let j = b.op("Sub", [coord, b.initializer(DataType.INT64, originShape, origins, "origins")]);
    if (win.dilations[i] !== 1) j = b.op("Div", [j, b.int64s([win.dilations[i]])]);
    tap = tap === undefined ? j : b.op("Add", [b.op("Mul", [tap, b.int64s([win.kernel[i]])]), j]);
  }
  const taps = product(win.kernel);
  const [n, c] = xs;
  const hot = oneHot(b, tap as string, DataType.INT64, taps, 2, dt);
  const perTap = b.reshape(b.op("Mul", [hot, b.unsqueeze(dy, [2])]), [n, c * taps, ...outSp]);
  const units = new Array<number>(c * taps * taps).fill(0);
  for (let ch = 0; ch < c; ch++) for (let t = 0; t < taps; t++) units[(ch * taps + t) * taps + t] = 1;
  return spreadBack(b, perTap, floatConst(b, node, dt, [c * taps, 1, ...win.kernel], units), win, c, inSp, outSp);
}
