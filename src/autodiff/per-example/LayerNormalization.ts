import { attr, getFloat, getInt } from "../../onnx/ir.js";
import { normalizeAxis } from "../constants.js";
import { floatConst, product } from "../ops/nn-window.js";
import { dy0, unsupported } from "../rule.js";
import { noPerExample, type PerExampleRule } from "./rule.js";

/**
 * Normalised over [axis, rank) within each example: dScaleᵢ = Σ δᵢ·x̂ᵢ and dBᵢ = Σ δᵢ over
 * the axes between the batch axis and `axis`, x̂ from one LayerNormalization with unit scale.
 */
export const LayerNormalization: PerExampleRule = {
  opType: "LayerNormalization",
  grad: (ctx, index) => {
    const { node, b } = ctx;
    const x = node.inputs[0];
    const xs = ctx.shape(x);
    const dt = ctx.dataType(x);
    const axis = normalizeAxis(getInt(node, "axis", -1), xs.length);
    if (axis === 0) unsupported(node, "axis=0 (statistics over the whole batch), for per-example gradients");
    const between = Array.from({ length: axis - 1 }, (_, i) => i + 1);
    const sumBetween = (v: string) => (between.length > 0 ? b.reduceSum(v, between, false) : v);
    if (index === 2) return { perExample: () => sumBetween(dy0(ctx)) };
    if (index !== 1) return noPerExample(node, index);
    return {
      perExample: () => {
        const normShape = xs.slice(axis);
        const ones = floatConst(b, node, dt, normShape, new Array<number>(product(normShape)).fill(1));
        const attrs = { axis: attr.int(axis), epsilon: attr.float(getFloat(node, "epsilon", 1e-5)), stash_type: attr.int(getInt(node, "stash_type", 1)) };
        const xhat = b.op("LayerNormalization", [x, ones], attrs);
        return sumBetween(b.op("Mul", [dy0(ctx), xhat]));
      },
    };
  },
};
