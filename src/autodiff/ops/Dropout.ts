import { constantNumbers } from "../constants.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";

/**
 * Inference mode is the identity: dx = dy. Training mode (opset ≥ 12, a training_mode input
 * that is not a constant false) scales the kept elements: y = x·mask/(1 − ratio), so
 * dx = dy·mask/(1 − ratio), with the mask the node itself output in the forward pass (a
 * recomputed one would be another draw). The mask output carries no gradient.
 */
export const Dropout: VjpRule = {
  opType: "Dropout",
  grad: (ctx) => {
    const { node, b } = ctx;
    const [x, ratio, training] = node.inputs;
    const value = training ? constantNumbers(ctx, training) : [0];
    if (value?.every((v) => v === 0)) return [() => dy0(ctx), undefined, undefined];
    const mask = node.outputs[1];
    if (!mask) unsupported(node, "training mode without its mask output");
    const dt = ctx.dataType(x);
    const kept = b.op("Sub", [b.scalar(1, dt), ratio ? ratio : b.scalar(0.5, dt)]);
    return [() => b.op("Div", [b.op("Mul", [dy0(ctx), b.cast(mask, dt)]), kept]), undefined, undefined];
  },
};
