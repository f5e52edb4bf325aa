/**
 * Jacobian-based Saliency Map Attack — Papernot, McDaniel, Jha, Fredrikson, Celik & Swami,
 * "The Limitations of Deep Learning in Adversarial Settings", IEEE EuroS&P 2016. An L0
 * attack: from the Jacobian of the model's outputs (logits when the model has them, as the
 * paper), it picks the pair of features (p, q) whose joint change by θ raises the target
 * class (α = ∂Z_t/∂x_p + ∂Z_t/∂x_q, θ·α > 0) while lowering the others (β = Σ_{j≠t} of the
 * same, θ·β < 0) the most, maximising |α·β|, changes them by θ, and repeats until the
 * target is reached or γ of the features have changed. A feature leaves the search domain
 * once it reaches the edge of the input range. Defaults from the paper: θ = +1 (as `eps`,
 * the change applied to each chosen feature, so also the L∞ bound), γ = 14.5% (MNIST).
 * Extension: untargeted (the paper is targeted), the mirrored map lowers the true class
 * and raises the others until the label changes. A sample with no admissible pair left
 * stops there; one that does not reach its goal stays at its input. The map's two rows (the
 * goal class and the sum of the others) come from one request (engine/jacobian.ts), for the
 * samples still running only.
 */
import type { ClassGradient, Predictor } from "../../engine/capabilities.js";
import { outputGradients } from "../../engine/jacobian.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, sliceRows } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import type { Attack, CommonParams } from "../types.js";
import { gatherPadded } from "./apgd.js";

export interface JsmaParams extends CommonParams {
  /** Largest fraction of the features that may change (the paper's γ). */
  gamma: number;
  batchSize: number;
}

export const jsma: Attack<JsmaParams, Predictor & ClassGradient> = {
  name: "jsma",
  title: "Jacobian-based Saliency Map Attack",
  paper: "Papernot, McDaniel, Jha, Fredrikson, Celik & Swami 2016, The Limitations of Deep Learning in Adversarial Settings",
  needs: ["predict", "classGradient"],
  norms: ["inf"],
  defaults: { eps: 1, norm: "inf", targeted: true, gamma: 0.145, batchSize: 128 },
  help: {
    eps: "θ, the change applied to each chosen feature (paper: +1, i.e. to the top of the range; negative lowers features)",
    norm: "inf: eps bounds each change; the attack itself limits how many features change (gamma)",
    targeted: "reach the given target classes (the paper); untargeted lowers the true class instead",
    gamma: "largest fraction of the features changed (paper: 0.145 on MNIST)",
    batchSize: "samples per gradient call",
  },
  async run(model, x, y, p, ctx) {
    if (!Number.isFinite(p.eps) || p.eps === 0)
      throw new AegisError("BAD_OPTION", "jsma: eps is θ, the change per feature, and must be a non-zero number (paper: 1)");
    if (!(p.gamma > 0 && p.gamma <= 1)) throw new AegisError("BAD_OPTION", "jsma: gamma is a fraction of the features and must lie in (0, 1]");
    if (!Number.isInteger(p.batchSize) || p.batchSize < 1) throw new AegisError("BAD_OPTION", "jsma: batchSize must be a positive integer");
    const n = x.shape[0];
    const row = sizeOf(x.shape.slice(1));
    const result = Float32Array.from(x.data);
    const [lo, hi] = model.clipRange;
    const movable = mutableMask(row, p.constraints);
    const up = p.eps > 0;
    const maxChanged = Math.floor(p.gamma * row);
    const k = model.numClasses;
    for (let start = 0; start < n && !ctx.signal?.aborted; start += p.batchSize) {
      const end = Math.min(n, start + p.batchSize);
      const m = end - start;
      const x0 = sliceRows(x, start, end);
      const labels = y.slice(start, end);
      const adv = Float32Array.from(x0.data);
      // Search domain: features that can still move in θ's direction.
      const domain = new Uint8Array(adv.length);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < row; j++) domain[i * row + j] = movable[j] && (up ? adv[i * row + j] < hi : adv[i * row + j] > lo) ? 1 : 0;
      const changed = new Uint8Array(adv.length);
      const changedCount = new Int32Array(m);
      const active = new Array<boolean>(m).fill(true);
      while (active.some(Boolean) && !ctx.signal?.aborted) {
        // Only the samples still running are predicted and differentiated.
        const running = [...active.keys()].filter((i) => active[i]);
        const out = await model.predict(float32([running.length, ...x0.shape.slice(1)], gatherPadded(adv, row, running, running.length)));
        const still = running.filter((i, r) => {
          if (isAdversarial(argmaxRow(out, r), labels[i], p.targeted)) {
            active[i] = false;
            result.set(adv.subarray(i * row, (i + 1) * row), (start + i) * row);
          } else if (changedCount[i] + 2 > maxChanged) active[i] = false;
          return active[i];
        });
        if (still.length === 0) break;
        // The saliency map's two Jacobian rows in one request: the goal class (target, or true
        // label) and the sum of the others.
        const weights = new Float32Array(2 * still.length * k);
        still.forEach((i, r) => {
          for (let c = 0; c < k; c++) weights[((c === labels[i] ? 0 : 1) * still.length + r) * k + c] = 1;
        });
        const { gradients } = await outputGradients(model, float32([still.length, ...x0.shape.slice(1)], gatherPadded(adv, row, still, still.length)), {
          weights: float32([2, still.length, k], weights),
        });
        const g = gradients.data;
        still.forEach((i, r) => {
          const s = i * row;
          const own = r * row;
          const others = (still.length + r) * row;
          // Orient the map so that a good pair always has a > 0 and b < 0: θ's sign, and
          // untargeted, lowering the true class instead of raising the target.
          const sign = (up ? 1 : -1) * (p.targeted ? 1 : -1);
          const features: number[] = [];
          for (let j = 0; j < row; j++) if (domain[s + j]) features.push(j);
          let bestScore = 0;
          let bestP = -1;
          let bestQ = -1;
          for (let u = 0; u < features.length; u++) {
            const ap = sign * g[own + features[u]];
            const bp = sign * g[others + features[u]];
            for (let v = u + 1; v < features.length; v++) {
              const a = ap + sign * g[own + features[v]];
              const b = bp + sign * g[others + features[v]];
              if (a > 0 && b < 0 && -a * b > bestScore) {
                bestScore = -a * b;
                bestP = features[u];
                bestQ = features[v];
              }
            }
          }
          if (bestP < 0) {
            active[i] = false;
            return;
          }
          for (const j of [bestP, bestQ]) {
            const at = s + j;
            adv[at] = Math.min(hi, Math.max(lo, adv[at] + p.eps));
            if (!changed[at]) {
              changed[at] = 1;
              changedCount[i]++;
            }
            if (up ? adv[at] >= hi : adv[at] <= lo) domain[at] = 0;
          }
          projectFeasible(adv, x0.data, s, row, p.constraints);
        });
      }
      ctx.onProgress?.(end, n);
    }
    return { x: float32(x.shape, result) };
  },
};
