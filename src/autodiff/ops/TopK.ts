import { attr, getInt } from "../../onnx/ir.js";
import { normalizeAxis, zerosOf } from "../constants.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";

/**
 * dX = dValues scattered into zeros of X's shape at the forward Indices along `axis`
 * (indices along an axis are distinct, so no accumulation is needed). The Indices output
 * and K carry no gradient; `largest` and `sorted` only change which indices, not the rule.
 */
export const TopK: VjpRule = {
  opType: "TopK",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x] = node.inputs;
    const indices = node.outputs[1];
    return [
      () => {
        if (!indices) unsupported(node, "an unnamed Indices output");
        const axis = normalizeAxis(getInt(node, "axis", -1), ctx.shape(x).length);
        const zeros = zerosOf(b, ctx.shape(x), ctx.dataType(x));
        return b.op("ScatterElements", [zeros, indices, dy0(ctx)], { axis: attr.int(axis) });
      },
      undefined,
    ];
  },
};
