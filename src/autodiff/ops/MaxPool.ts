import { attr, DataType, getInt, getInts } from "../../onnx/ir.js";
import { zerosOf } from "../constants.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";
import { extent, floatConst, forwardWindow, product, spreadBack } from "./nn-window.js";

/**
 * Y[o] = X[argmax of window o]: dX[i] = Σ_{o : argmax(o) = i} dY[o]. The argmaxes come from
 * the pool recomputed with its Indices output (flat over the whole N·C·spatial tensor,
 * one per window, so ties route to one element as in PyTorch), and dY is scattered
 * into zeros at them. Overlapping windows can share an argmax, so the scatter must add:
 * ScatterElements reduction="add" from opset 16. Below that, the argmax's offset inside
 * its window selects a one-hot kernel tap, and a depthwise ConvTranspose adds every
 * window's dY back at its tap (a col2im).
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
        if (!overlapping || b.opset >= 16) {
          const flat = b.op(
            "ScatterElements",
            [zerosOf(b, [product(xs)], dt), b.reshape(indices, [-1]), b.reshape(dy, [-1])],
            overlapping ? { axis: attr.int(0), reduction: attr.string("add") } : { axis: attr.int(0) },
          );
          return b.reshape(flat, xs);
        }
        // Tap of each argmax inside its window, row-major over the kernel axes.
        const plane = product(inSp);
        let rest = product(xs) === plane ? indices : b.op("Mod", [indices, b.int64s([plane])]);
        let tap: string | undefined;
        for (let i = 0; i < kernel.length; i++) {
          const inner = product(inSp.slice(i + 1));
          const coord = i === kernel.length - 1 ? rest : b.op("Div", [rest, b.int64s([inner])]);
          if (i < kernel.length - 1) rest = b.op("Mod", [rest, b.int64s([inner])]);
          // Window origins along axis i, shaped to broadcast over the later output axes.
          const origins = Array.from({ length: outSp[i] }, (_, o) => o * win.strides[i] - win.begin[i]);
          const originShape = [outSp[i], ...new Array<number>(kernel.length - 1 - i).fill(1)];
          let j = b.op("Sub", [
            coord,
            b.initializer(
              DataType.INT64,
              originShape,
              BigInt64Array.from(origins, (v) => BigInt(v)),
              "origins",
            ),
          ]);
          if (win.dilations[i] !== 1) j = b.op("Div", [j, b.int64s([win.dilations[i]])]);
          tap = tap === undefined ? j : b.op("Add", [b.op("Mul", [tap, b.int64s([kernel[i]])]), j]);
        }
        const taps = product(kernel);
        const [n, c] = xs;
        const oneHot = b.op("OneHot", [tap as string, b.int64s([taps]), floatConst(b, node, dt, [2], [0, 1])], { axis: attr.int(2) });
        const perTap = b.reshape(b.op("Mul", [oneHot, b.unsqueeze(dy, [2])]), [n, c * taps, ...outSp]);
        const weights = new Array<number>(c * taps * taps).fill(0);
        for (let ch = 0; ch < c; ch++) for (let t = 0; t < taps; t++) weights[(ch * taps + t) * taps + t] = 1;
        const kernelTensor = floatConst(b, node, dt, [c * taps, 1, ...kernel], weights);
        return spreadBack(b, perTap, kernelTensor, win, c, inSp, outSp);
      },
    ];
  },
};
