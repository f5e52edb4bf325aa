import { attr, getFloat, getInt } from "../../onnx/ir.js";
import { normalizeAxis, zerosOf } from "../constants.js";
import { unsupported, type VjpRule } from "../rule.js";
import { floatConst, product, sumTo } from "./nn-window.js";

/**
 * Over the axes [axis, rank): x̂ = (X − μ)·r, r = 1/√(σ² + ε), Y = x̂·Scale + B.
 * With g = dY·Scale and means ⟨·⟩ over those axes (D elements):
 *   dX = r·(g − ⟨g⟩ − x̂·⟨g·x̂⟩) + dMean/D − dInvStdDev·r²·x̂/D
 * (the last two terms only when the Mean / InvStdDev outputs receive gradients);
 * dScale = Σ dY·x̂ and dB = Σ dY over the leading axes, summed to their shapes.
 * x̂ and r come from one LayerNormalization node with unit scale.
 */
export const LayerNormalization: VjpRule = {
  opType: "LayerNormalization",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x, scale, bias] = node.inputs;
    const xs = ctx.shape(x);
    const dt = ctx.dataType(x);
    const axis = normalizeAxis(getInt(node, "axis", -1), xs.length);
    const normAxes = Array.from({ length: xs.length - axis }, (_, i) => axis + i);
    const normShape = xs.slice(axis);
    const [dY, dMean, dInv] = ctx.dy;
    if (ctx.dataType(scale) !== dt) unsupported(node, "a Scale of another element type than X");
    let cached: { xhat: string; r: string } | undefined;
    const stats = () => {
      if (!cached) {
        const ones = floatConst(b, node, dt, normShape, new Array<number>(product(normShape)).fill(1));
        const attrs = { axis: attr.int(axis), epsilon: attr.float(getFloat(node, "epsilon", 1e-5)), stash_type: attr.int(getInt(node, "stash_type", 1)) };
        const [xhat, , r] = b.node("LayerNormalization", [x, ones], attrs, [b.fresh("xhat"), "", b.fresh("invstd")]);
        cached = { xhat, r };
      }
      return cached;
    };
    const mean = (v: string) => b.reduceMean(v, normAxes, true);
    const leadingSum = (v: string, to: string) => sumTo(b, v, xs, ctx.shape(to));

    return [
      () => {
        const { xhat, r } = stats();
        const d = product(normShape);
        const terms: string[] = [];
        if (dY) {
          const g = b.op("Mul", [dY, scale]);
          const centred = b.op("Sub", [g, mean(g)]);
          terms.push(b.op("Mul", [r, b.op("Sub", [centred, b.op("Mul", [xhat, mean(b.op("Mul", [g, xhat]))])])]));
        }
        if (dMean) terms.push(b.op("Mul", [dMean, b.scalar(1 / d, dt)]));
        if (dInv) {
          // ∂r/∂X = −r³·(X − μ)/D = −r²·x̂/D
          const k = b.op("Mul", [b.op("Mul", [dInv, b.op("Mul", [r, r])]), b.scalar(-1 / d, dt)]);
          terms.push(b.op("Mul", [k, xhat]));
        }
        // dMean alone has the reduced shape: broadcast it back.
        if (!dY && !dInv) return b.op("Expand", [terms[0], b.int64s(xs)]);
        return terms.length === 1 ? terms[0] : b.op("Sum", terms);
      },
      () => (dY ? leadingSum(b.op("Mul", [dY, stats().xhat]), scale) : zerosOf(b, ctx.shape(scale), dt)),
      bias ? () => (dY ? leadingSum(dY, bias) : zerosOf(b, ctx.shape(bias), dt)) : undefined,
    ];
  },
};
