/**
 * Label-only membership inference — Choquette-Choo, Tramèr, Carlini & Papernot, "Label-Only
 * Membership Inference Attacks", ICML 2021. An API that returns only the predicted label
 * still leaks membership, because a model is more robust around its training samples:
 * - augmentation: the share of the sample's augmentations (the query augmentations, plus
 *   `noiseDraws` copies with Gaussian noise of σ times each feature's standard deviation in
 *   the reference data) that the model still labels correctly;
 * - boundary distance: the L2 distance to the decision boundary found by HopSkipJump
 *   (Chen et al. 2020, itself label-only), 0 for a sample the model already gets wrong.
 * Deviations: the augmentation score is the share of correct labels rather than an attack
 * model over the vector of them (the paper finds the two close); HopSkipJump runs with a
 * reduced query budget (`maxQueries`), so distances are upper bounds.
 */
import type { Rng } from "../../data/random.js";
import type { Predictor } from "../../engine/capabilities.js";
import { argmaxRow } from "../../engine/trainer.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";
import { hopskipjump } from "../evasion/hopskipjump.js";
import { correctShare, type Outputs } from "./observations.js";

export interface NoiseOptions {
  draws: number;
  /** Noise standard deviation, in units of each feature's standard deviation. */
  sigma: number;
  /** Per-feature standard deviation of the data (one value per input element). */
  featureSd: Float32Array;
  rng: Rng;
}

/** Score per sample: the share of correct labels over the augmentations in `outputs` and the noisy copies. */
export async function labelOnlyAugmentationScores(
  model: Predictor,
  x: Tensor<"float32">,
  labels: readonly number[],
  outputs: Outputs,
  noise: NoiseOptions,
): Promise<Float64Array> {
  const shares = correctShare(outputs, labels);
  if (noise.draws === 0) return shares;
  const n = x.shape[0];
  const size = sizeOf(x.shape.slice(1));
  const [lo, hi] = model.clipRange;
  const correct = new Float64Array(n);
  for (let draw = 0; draw < noise.draws; draw++) {
    const noisy = new Float32Array(x.data.length);
    for (let k = 0; k < noisy.length; k++) noisy[k] = Math.min(hi, Math.max(lo, x.data[k] + noise.sigma * noise.featureSd[k % size] * noise.rng.normal()));
    const out = await model.predict(float32(x.shape, noisy));
    for (let i = 0; i < n; i++) if (argmaxRow(out, i) === labels[i]) correct[i]++;
  }
  const total = outputs.augmentations + noise.draws;
  return shares.map((s, i) => (s * outputs.augmentations + correct[i]) / total);
}

export interface BoundaryOptions {
  maxQueries: number;
  rng: Rng;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

/** Score per sample: the L2 distance to the nearest decision boundary HopSkipJump finds. */
export async function labelOnlyBoundaryScores(model: Predictor, x: Tensor<"float32">, labels: readonly number[], o: BoundaryOptions): Promise<Float64Array> {
  const params = { ...hopskipjump.defaults, maxQueries: o.maxQueries };
  const { x: adversarial } = await hopskipjump.run(model, x, labels, params, { rng: o.rng, signal: o.signal, onProgress: o.onProgress });
  const found = await model.predict(adversarial);
  const size = sizeOf(x.shape.slice(1));
  return Float64Array.from(labels, (label, i) => {
    let squares = 0;
    for (let k = i * size; k < (i + 1) * size; k++) squares += (adversarial.data[k] - x.data[k]) ** 2;
    // No label change found within the budget: farther than anything measured.
    return argmaxRow(found, i) === label ? Number.POSITIVE_INFINITY : Math.sqrt(squares);
  });
}
