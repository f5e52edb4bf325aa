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
 * stops there; one that does not reach its goal stays at its input.
 */
import type { ClassGradient, Predictor } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, sliceRows } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import { isAdversarial } from "../metrics.js";
import type { Attack, CommonParams } from "../types.js";

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
      const reached = (out: Parameters<typeof argmaxRow>[0], i: number) => isAdversarial(argmaxRow(out, i), labels[i], p.targeted);
      const own = new Float32Array(adv.length);
      const others = new Float32Array(adv.length);
      while (active.some(Boolean) && !ctx.signal?.aborted) {
        const xt = float32(x0.shape, adv);
        const out = await model.predict(xt);
        for (let i = 0; i < m; i++) {
          if (!active[i]) continue;
          if (reached(out, i)) {
            active[i] = false;
            result.set(adv.subarray(i * row, (i + 1) * row), (start + i) * row);
          } else if (changedCount[i] + 2 > maxChanged) active[i] = false;
        }
        if (!active.some(Boolean)) break;
        // The Jacobian rows: the goal class (target, or true label) and the sum of the rest.
        others.fill(0);
        for (let c = 0; c < k; c++) {
          const g = (await model.classGradient(xt, new Array<number>(m).fill(c))).data;
          for (let i = 0; i < m; i++) {
            const s = i * row;
            if (c === labels[i]) own.set(g.subarray(s, s + row), s);
            else for (let j = s; j < s + row; j++) others[j] += g[j];
          }
        }
        for (let i = 0; i < m; i++) {
          if (!active[i]) continue;
          const s = i * row;
          // Orient the map so that a good pair always has a > 0 and b < 0: θ's sign, and
          // untargeted, lowering the true class instead of raising the target.
          const sign = (up ? 1 : -1) * (p.targeted ? 1 : -1);
          const features: number[] = [];
          for (let j = 0; j < row; j++) if (domain[s + j]) features.push(j);
          let bestScore = 0;
          let bestP = -1;
          let bestQ = -1;
          for (let u = 0; u < features.length; u++) {
            const ap = sign * own[s + features[u]];
            const bp = sign * others[s + features[u]];
            for (let v = u + 1; v < features.length; v++) {
              const a = ap + sign * own[s + features[v]];
              const b = bp + sign * others[s + features[v]];
              if (a > 0 && b < 0 && -a * b > bestScore) {
                bestScore = -a * b;
                bestP = features[u];
                bestQ = features[v];
              }
            }
          }
          if (bestP < 0) {
            active[i] = false;
            continue;
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
        }
      }
      ctx.onProgress?.(end, n);
    }
    return { x: float32(x.shape, result) };
  },
};
