import { getFloat, getInt } from "../../onnx/ir.js";
import { dy0, unsupported } from "../rule.js";
import { noPerExample, type PerExampleRule } from "./rule.js";

/**
 * Inference mode (fixed statistics, so examples stay independent): per example and
 * channel, dScaleᵢ = Σ δᵢ·x̂ᵢ and dBᵢ = Σ δᵢ over the spatial axes, x̂ = (X − mean)/√(var + ε).
 * Training mode mixes the batch through its statistics and has no per-example gradient.
 */
export const BatchNormalization: PerExampleRule = {
  opType: "BatchNormalization",
  grad: (ctx, index) => {
    const { node, b } = ctx;
    if (getInt(node, "training_mode", 0) === 1 || node.outputs.slice(1).some((o) => o)) {
      unsupported(node, "training mode (batch statistics mix the examples), for per-example gradients");
    }
    const [x, , , mean, variance] = node.inputs;
    const xs = ctx.shape(x);
    const dt = ctx.dataType(x);
    const spatial = Array.from({ length: xs.length - 2 }, (_, i) => i + 2);
    const perChannel = [xs[1], ...spatial.map(() => 1)];
    const sumSpatial = (v: string) => (spatial.length > 0 ? b.reduceSum(v, spatial, false) : v);
    if (index === 2) return { perExample: () => sumSpatial(dy0(ctx)) };
    if (index !== 1) return noPerExample(node, index);
    return {
      perExample: () => {
        const std = b.op("Sqrt", [b.op("Add", [variance, b.scalar(getFloat(node, "epsilon", 1e-5), dt)])]);
        const xhat = b.op("Div", [b.op("Sub", [x, b.reshape(mean, perChannel)]), b.reshape(std, perChannel)]);
        return sumSpatial(b.op("Mul", [dy0(ctx), xhat]));
      },
    };
  },
};
