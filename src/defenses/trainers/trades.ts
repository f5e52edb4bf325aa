/**
 * TRADES — Zhang, Yu, Jiao, Xing, El Ghaoui & Jordan, "Theoretically Principled Trade-off
 * between Robustness and Accuracy", ICML 2019: minimise CE(f(x), y) + β·KL(f(x) ‖ f(x′))
 * where x′ maximises the KL divergence inside the L∞ ε-ball, found by sign-gradient ascent
 * from x + 0.001·N(0, I). Paper defaults for MNIST: ε=0.3, β=6, inner step 0.01, 40 steps.
 * The engine trains on one batch [x; x′] with targets [onehot(y); softmax(f(x))] and
 * weights [1; β]: cross-entropy against the soft targets p = softmax(f(x)) equals
 * H(p) + KL(p ‖ f(x′)), so the x′ rows carry the KL term.
 * Deviations: (1) p is a constant in that batch, so the gradient of the KL term flows
 * through f(x′) only and not through f(x) (the paper differentiates both); (2) the inner
 * maximisation cannot use the `pgd` attack, which maximises a loss against hard labels,
 * so it is the paper's own sign-gradient loop on the KL against p; (3) an optional linear
 * ε ramp as in adversarial-training.ts.
 */
import type { BatchTransform } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32 } from "../../tensor.js";
import { checkAttackOptions, rampedEps } from "./adversarial-training.js";

export interface TradesOptions {
  /** L∞ radius (paper: 0.3 for MNIST). */
  eps: number;
  /** Inner step (paper: 0.01). */
  epsStep: number;
  /** Inner steps (paper: 40 for MNIST). */
  maxIter: number;
  /** Weight of the robustness term (paper: 6 for MNIST; 1/λ in its notation). */
  beta: number;
  rampEpochs?: number;
}

/** Softmax of each row of logits (or the rows as they are, for models that output probabilities). */
function probabilities(output: Float32Array, k: number, isLogits: boolean): Float32Array {
  if (!isLogits) return Float32Array.from(output);
  const p = new Float32Array(output.length);
  for (let s = 0; s < output.length; s += k) {
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < k; j++) max = Math.max(max, output[s + j]);
    let sum = 0;
    for (let j = 0; j < k; j++) sum += p[s + j] = Math.exp(output[s + j] - max);
    for (let j = 0; j < k; j++) p[s + j] /= sum;
  }
  return p;
}

export function trades(options: TradesOptions): BatchTransform {
  checkAttackOptions(options);
  if (!(options.beta >= 0)) throw new AegisError("BAD_OPTION", `--beta must be non-negative, got ${options.beta}`);
  return async (batch, { classifier, epoch, rng }) => {
    const m = batch.x.shape[0];
    const k = classifier.numClasses;
    const eps = rampedEps(options.eps, epoch, options.rampEpochs);
    const step = options.epsStep * (eps / options.eps);
    const [lo, hi] = classifier.clipRange;
    const x = batch.x.data;
    const p = float32([m, k], probabilities((await classifier.predict(batch.x)).data, k, classifier.outputKind === "logits"));

    const adv = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) adv[i] = Math.min(hi, Math.max(lo, x[i] + 0.001 * rng.normal()));
    for (let iter = 0; iter < options.maxIter; iter++) {
      const { inputGrad } = await classifier.evaluate(float32(batch.x.shape, adv), p, { loss: "ce", wrt: { input: true } });
      const g = (inputGrad as { data: Float32Array }).data;
      for (let i = 0; i < adv.length; i++) {
        const moved = adv[i] + step * Math.sign(g[i]);
        adv[i] = Math.min(hi, Math.max(lo, Math.min(x[i] + eps, Math.max(x[i] - eps, moved))));
      }
    }

    const both = new Float32Array(2 * x.length);
    both.set(x);
    both.set(adv, x.length);
    const targets = new Float32Array(2 * m * k);
    targets.set(batch.targets.data);
    targets.set(p.data, m * k);
    const weights = new Float32Array(2 * m);
    weights.fill(1 / m, 0, m);
    weights.fill(options.beta / m, m);
    return {
      x: float32([2 * m, ...batch.x.shape.slice(1)], both),
      targets: float32([2 * m, k], targets),
      labels: [...batch.labels, ...batch.labels],
      weights,
    };
  };
}
