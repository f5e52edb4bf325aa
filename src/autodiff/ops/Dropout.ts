import { constantNumbers } from "../constants.js";
import { dy0, unsupported, type VjpRule } from "../rule.js";

/**
 * Inference-mode dropout is the identity: dx = dy; the mask output carries no gradient.
 * Training mode (opset ≥ 12, a training_mode input that may be true) is refused: its
 * gradient would depend on the random mask of that very run.
 */
export const Dropout: VjpRule = {
  opType: "Dropout",
  grad: (ctx) => {
    const training = ctx.node.inputs[2];
    if (training) {
      const value = constantNumbers(ctx, training);
      if (value === undefined || value.some((v) => v !== 0)) unsupported(ctx.node, "a training_mode input that is not a constant false");
    }
    return [() => dy0(ctx), undefined, undefined];
  },
};
