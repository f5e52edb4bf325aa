/**
 * EAD, the elastic-net attack — Chen, Sharma, Zhang, Yi & Hsieh, "EAD: Elastic-Net Attacks
 * to Deep Neural Networks via Adversarial Examples", AAAI 2018. Minimises
 * c·max(max_{j≠t} Z_j − Z_t, −κ) + ‖δ‖₂² + β‖δ‖₁ by FISTA: a gradient step on the smooth
 * part at the momentum point, then the shrinkage-thresholding operator S_β projected onto
 * the input box, which sets small changes exactly to zero (sparse perturbations). The
 * learning rate decays as the square root to zero; a binary search per sample tunes c, and
 * the decision rule picks, among successful iterates, the smallest elastic-net distance
 * (EN, the paper's default) or the smallest L1 distance (L1). Defaults from the paper:
 * β = 0.01, κ = 0, learning rate 0.01, EN rule.
 * Deviations: the paper runs 9 binary-search steps of 1000 iterations from c = 1e-3; the
 * defaults are 5 steps of 100 from c = 1, near where the search on an MNIST CNN lands, so
 * fewer steps are spent finding the scale of c. `eps` is not a budget but the largest L1 counted as a success (default ∞);
 * a sample with no example within it stays at its input.
 */
import type { Labels, LossGradient, Predictor } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf, sliceRows, type Tensor } from "../../tensor.js";
import { mutableMask, projectFeasible } from "../constraints.js";
import type { Attack, AttackContext, AttackOutput, CommonParams } from "../types.js";
import { checkMinNormParams, cwSuccess, cwTerm, searchConstants } from "./carlini-wagner-l2.js";

export interface EadParams extends CommonParams {
  /** κ: how far past the decision boundary (in logits) an example must be. */
  confidence: number;
  learningRate: number;
  binarySearchSteps: number;
  /** FISTA iterations per binary-search step. */
  maxIter: number;
  /** Weight of the L1 term, and the shrinkage threshold. */
  beta: number;
  initialConst: number;
  /** Which successful iterate to keep: smallest elastic-net ("EN") or L1 ("L1") distance. */
  decisionRule: "EN" | "L1";
  /** Stop a binary-search step once the objective stops decreasing. */
  abortEarly: boolean;
  batchSize: number;
}

export const ead: Attack<EadParams, LossGradient & Predictor> = {
  name: "ead",
  title: "Elastic-net attack (EAD)",
  paper: "Chen, Sharma, Zhang, Yi & Hsieh 2018, EAD: Elastic-Net Attacks to Deep Neural Networks via Adversarial Examples",
  needs: ["predict", "lossGradient"],
  norms: ["1"],
  defaults: {
    eps: Number.POSITIVE_INFINITY,
    norm: "1",
    targeted: false,
    confidence: 0,
    learningRate: 0.01,
    binarySearchSteps: 5,
    maxIter: 100,
    beta: 0.01,
    initialConst: 1,
    decisionRule: "EN",
    abortEarly: true,
    batchSize: 128,
  },
  help: {
    eps: "largest L1 counted as a success (default ∞: the attack finds the smallest it can)",
    norm: "1 only",
    targeted: "reach the given target classes instead of leaving the labels",
    confidence: "κ, the logit margin past the boundary an example must reach (paper: 0)",
    learningRate: "initial FISTA step, decaying as the square root to zero (paper: 0.01)",
    binarySearchSteps: "binary-search steps on the constant c (paper: 9)",
    maxIter: "FISTA iterations per binary-search step (paper: 1000)",
    beta: "L1 weight β and shrinkage threshold (paper: 0.01)",
    initialConst: "first c of the search (paper: 1e-3; 1 saves steps on MNIST-scale logits)",
    decisionRule: "EN (smallest elastic-net distance, paper default) or L1 (smallest L1)",
    abortEarly: "end a search step once the objective stops decreasing",
    batchSize: "samples optimised together",
  },
  async run(model, x, y, p, ctx) {
    checkMinNormParams("ead", p);
    if (p.decisionRule !== "EN" && p.decisionRule !== "L1") throw new AegisError("BAD_OPTION", `ead: decisionRule must be EN or L1, not ${p.decisionRule}`);
    if (!(p.beta >= 0)) throw new AegisError("BAD_OPTION", "ead: beta must be ≥ 0");
    return fista(model, x, y, p, ctx);
  },
};

async function fista(model: LossGradient & Predictor, x: Tensor<"float32">, y: Labels, p: EadParams, ctx: AttackContext): Promise<AttackOutput> {
  const n = x.shape[0];
  const row = sizeOf(x.shape.slice(1));
  const result = Float32Array.from(x.data);
  const [lo, hi] = model.clipRange;
  const movable = mutableMask(row, p.constraints);
  const aborted = () => ctx.signal?.aborted === true;
  for (let start = 0; start < n && !aborted(); start += p.batchSize) {
    const end = Math.min(n, start + p.batchSize);
    const m = end - start;
    const x0 = sliceRows(x, start, end);
    const labels = y.slice(start, end);
    const adv = new Float32Array(x0.data.length);
    const slack = new Float32Array(x0.data.length);
    const before = new Float32Array(x0.data.length);
    const c = new Float64Array(m).fill(p.initialConst);
    const lower = new Float64Array(m);
    const upper = new Float64Array(m).fill(Number.POSITIVE_INFINITY);
    const bestScore = new Float64Array(m).fill(Number.POSITIVE_INFINITY);
    for (let step = 0; step < p.binarySearchSteps && !aborted(); step++) {
      adv.set(x0.data);
      slack.set(x0.data);
      const succeeded = new Array<boolean>(m).fill(false);
      const checkEvery = Math.max(1, Math.floor(p.maxIter / 10));
      let previous = Number.POSITIVE_INFINITY;
      for (let iter = 0; iter < p.maxIter && !aborted(); iter++) {
        // Gradient step on c·f + ‖δ‖₂² at the momentum point, then S_β and the box.
        const { f, grad } = await cwTerm(model, float32(x0.shape, slack), labels, p.targeted);
        const rate = p.learningRate * Math.sqrt(1 - iter / p.maxIter);
        const momentum = (iter + 1) / (iter + 4);
        for (let i = 0; i < m; i++) {
          const s = i * row;
          const active = f[i] > -p.confidence;
          for (let k = s; k < s + row; k++) {
            if (!movable[k - s]) continue;
            const z = slack[k] - rate * ((active ? c[i] * grad[k] : 0) + 2 * (slack[k] - x0.data[k]));
            const d = z - x0.data[k];
            before[k] = adv[k];
            adv[k] = d > p.beta ? Math.min(hi, z - p.beta) : d < -p.beta ? Math.max(lo, z + p.beta) : x0.data[k];
          }
          projectFeasible(adv, x0.data, s, row, p.constraints);
          for (let k = s; k < s + row; k++) if (movable[k - s]) slack[k] = adv[k] + momentum * (adv[k] - before[k]);
        }
        const output = await model.predict(float32(x0.shape, adv));
        const fAdv = marginOf(output, labels, p.targeted, model.outputKind === "probs");
        let total = 0;
        for (let i = 0; i < m; i++) {
          const s = i * row;
          let l1 = 0;
          let l2 = 0;
          for (let k = s; k < s + row; k++) {
            const d = Math.abs(adv[k] - x0.data[k]);
            l1 += d;
            l2 += d * d;
          }
          total += c[i] * Math.max(fAdv[i], -p.confidence) + l2 + p.beta * l1;
          if (!cwSuccess(output, i, labels[i], fAdv[i], p.targeted, p.confidence)) continue;
          succeeded[i] = true;
          const score = p.decisionRule === "EN" ? l2 + p.beta * l1 : l1;
          if (score < bestScore[i] && l1 <= p.eps) {
            bestScore[i] = score;
            result.set(adv.subarray(s, s + row), (start + i) * row);
          }
        }
        if (p.abortEarly && iter % checkEvery === 0) {
          if (total > previous * 0.9999) break;
          previous = total;
        }
      }
      searchConstants(succeeded, lower, upper, c);
    }
    ctx.onProgress?.(end, n);
  }
  return { x: float32(x.shape, result) };
}

/**
 * f = max_{j≠t} Z_j − Z_t (targeted) or Z_y − max_{j≠y} Z_j (untargeted) from model
 * outputs, on log-probabilities when the model outputs probabilities (as the engine's loss).
 */
function marginOf(output: Tensor<"float32">, labels: Labels, targeted: boolean, probs: boolean): Float32Array {
  const k = output.shape[1];
  const z = probs ? output.data.map((v) => Math.log(Math.max(v, 1e-30))) : output.data;
  const f = new Float32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    let other = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < k; j++) if (j !== labels[i]) other = Math.max(other, z[i * k + j]);
    const own = z[i * k + labels[i]];
    f[i] = targeted ? other - own : own - other;
  }
  return f;
}
