import { attr, getFloat } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";
import { axesButChannel, floatConst, product } from "./nn-window.js";

/**
 * Per sample and channel, over the spatial axes: x̂ = (X − μ)·r, r = 1/√(σ² + ε),
 * Y = scale[c]·x̂ + B[c]. With g = dY·scale and spatial means ⟨·⟩:
 * dX = r·(g − ⟨g⟩ − x̂·⟨g·x̂⟩); dScale = Σ dY·x̂, dB = Σ dY over all axes but 1.
 * x̂ and r come from one LayerNormalization over axes [2, rank) from opset 17 (the same
 * statistics), from explicit reductions before.
 */
export const InstanceNormalization: VjpRule = {
  opType: "InstanceNormalization",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x, scale] = node.inputs;
    const xs = ctx.shape(x);
    const dt = ctx.dataType(x);
    if (xs.length < 3) unsupported(node, `an input of rank ${xs.length}`);
    const eps = getFloat(node, "epsilon", 1e-5);
    const spatial = Array.from({ length: xs.length - 2 }, (_, i) => i + 2);
    const perChannel = [xs[1], ...spatial.map(() => 1)];
    const mean = (v: string) => b.reduceMean(v, spatial, true);
    let cached: { xhat: string; r: string } | undefined;
    const stats = () => {
      if (cached) return cached;
      if (b.opset >= 17) {
        const ones = floatConst(b, node, dt, xs.slice(2), new Array<number>(product(xs.slice(2))).fill(1));
        const [xhat, , r] = b.node("LayerNormalization", [x, ones], { axis: attr.int(2), epsilon: attr.float(eps) }, [b.fresh("xhat"), "", b.fresh("invstd")]);
        cached = { xhat, r };
      } else {
        const centred = b.op("Sub", [x, mean(x)]);
        const variance = mean(b.op("Mul", [centred, centred]));
        const r = b.op("Reciprocal", [b.op("Sqrt", [b.op("Add", [variance, b.scalar(eps, dt)])])]);
        cached = { xhat: b.op("Mul", [centred, r]), r };
      }
      return cached;
    };

    return [
      () => {
        const { xhat, r } = stats();
        const g = b.op("Mul", [dy0(ctx), b.reshape(scale, perChannel)]);
        const centred = b.op("Sub", [g, mean(g)]);
        return b.op("Mul", [r, b.op("Sub", [centred, b.op("Mul", [xhat, mean(b.op("Mul", [g, xhat]))])])]);
      },
      () => b.reduceSum(b.op("Mul", [dy0(ctx), stats().xhat]), axesButChannel(xs.length), false),
      () => b.reduceSum(dy0(ctx), axesButChannel(xs.length), false),
    ];
  },
};
