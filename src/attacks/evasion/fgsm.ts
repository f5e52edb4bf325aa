/**
 * Fast Gradient (Sign) Method — Goodfellow, Shlens & Szegedy, "Explaining and Harnessing
 * Adversarial Examples", ICLR 2015. One step of size ε along the sign of the loss
 * gradient (L∞), or along the gradient scaled to unit L2 or sparse L1 norm (the FGM
 * variants), clipped to the valid input range.
 */
import type { LossGradient, ModelInfo } from "../../engine/capabilities.js";
import { float32, sizeOf } from "../../tensor.js";
import { projectFeasible } from "../constraints.js";
import { ascentDirection } from "../norms.js";
import type { Attack, CommonParams } from "../types.js";

export interface FgsmParams extends CommonParams {
  batchSize: number;
}

export const fgsm: Attack<FgsmParams, LossGradient & ModelInfo> = {
  name: "fgsm",
  title: "Fast Gradient Sign Method",
  paper: "Goodfellow, Shlens & Szegedy 2015, Explaining and Harnessing Adversarial Examples",
  needs: ["predict", "lossGradient"],
  norms: ["inf", "2", "1"],
  defaults: { eps: 0.3, norm: "inf", targeted: false, batchSize: 128 },
  help: {
    eps: "step size = radius of the perturbation",
    norm: "inf (sign of the gradient), 2 or 1",
    targeted: "step toward the given target classes (descending their loss)",
    batchSize: "samples per gradient call",
  },
  async run(model, x, y, p, ctx) {
    const row = sizeOf(x.shape.slice(1));
    const grad = await model.lossGradient(x, y);
    const direction = new Float32Array(grad.data.length);
    const [lo, hi] = model.clipRange;
    const sign = p.targeted ? -1 : 1;
    const adv = new Float32Array(x.data.length);
    for (let s = 0; s < adv.length; s += row) {
      ascentDirection(grad.data, s, s + row, p.norm, direction);
      for (let k = s; k < s + row; k++) adv[k] = Math.min(hi, Math.max(lo, x.data[k] + sign * p.eps * direction[k]));
      projectFeasible(adv, x.data, s, row, p.constraints);
    }
    ctx.onProgress?.(x.shape[0], x.shape[0]);
    return { x: float32(x.shape, adv) };
  },
};
