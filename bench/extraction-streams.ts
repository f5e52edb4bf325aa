/**
 * Query streams for the run-time detectors (src/gateway/detectors): what one client sends to
 * an MNIST model, benign or hostile, as rows of 784 floats in [0, 1]. Shared by
 * test/gateway/detectors.test.ts and bench/extraction-detection.ts.
 * - Tramèr, Zhang, Juels, Reiter & Ristenpart, "Stealing Machine Learning Models via
 *   Prediction APIs", USENIX Security 2016: uniform random queries, and for each pair the
 *   model labels differently a line search (bisection) toward the decision boundary between
 *   them — the "noise queries" extraction PRADA was evaluated on.
 * - Papernot, McDaniel, Goodfellow, Jha, Celik & Swami, "Practical Black-Box Attacks against
 *   Machine Learning", AsiaCCS 2017: Jacobian-based data augmentation from a small seed set,
 *   each round adding x + λ·sign(∂F_c/∂x) for every sample so far (λ = 0.1 as the paper).
 *   Deviation: the gradient is the target model's own, standing in for the attacker's
 *   substitute (which would have to be trained between rounds); PRADA only sees the queries,
 *   and their geometry — a copy at L∞ distance λ from its parent — is the same.
 * - Benign: natural digits, and "lightly augmented" copies (shifted up to 2 pixels with
 *   Gaussian pixel noise) for a client who sends more queries than the test set holds.
 */
import type { Rng } from "../src/data/random.js";
import type { Predictor } from "../src/engine/capabilities.js";
import type { OnnxClassifier } from "../src/engine/classifier.js";
import { argmaxRow } from "../src/engine/trainer.js";
import { float32, type Tensor } from "../src/tensor.js";

export const PIXELS = 784;
const SIDE = 28;

/** Row i of a [N, …] float32 tensor as its own array. */
export function row(t: Tensor<"float32">, i: number): Float32Array {
  return t.data.slice(i * PIXELS, (i + 1) * PIXELS);
}

/** Rows as one [N, 1, 28, 28] batch. */
export function stack(rows: readonly Float32Array[]): Tensor<"float32"> {
  const x = new Float32Array(rows.length * PIXELS);
  for (let i = 0; i < rows.length; i++) x.set(rows[i], i * PIXELS);
  return float32([rows.length, 1, SIDE, SIDE], x);
}

/** The model's predicted class of each row. */
export async function predictedClasses(model: Predictor, rows: readonly Float32Array[]): Promise<number[]> {
  const out: number[] = [];
  for (let start = 0; start < rows.length; start += 512) {
    const batch = rows.slice(start, start + 512);
    const scores = await model.predict(stack(batch));
    for (let i = 0; i < batch.length; i++) out.push(argmaxRow(scores, i));
  }
  return out;
}

export function uniformNoiseStream(n: number, rng: Rng): Float32Array[] {
  return Array.from({ length: n }, () => Float32Array.from({ length: PIXELS }, () => rng.next()));
}

/** Uniform pairs, then up to `steps` bisection queries between pairs of different classes. */
export async function lineSearchStream(model: Predictor, n: number, rng: Rng, steps = 8): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  while (rows.length < n) {
    const a = Float32Array.from({ length: PIXELS }, () => rng.next());
    const b = Float32Array.from({ length: PIXELS }, () => rng.next());
    rows.push(a, b);
    const [ca, cb] = await predictedClasses(model, [a, b]);
    if (ca === cb) continue;
    let low = a;
    let high = b;
    for (let s = 0; s < steps && rows.length < n; s++) {
      const mid = low.map((v, i) => (v + high[i]) / 2);
      rows.push(mid);
      const [cm] = await predictedClasses(model, [mid]);
      if (cm === ca) low = mid;
      else high = mid;
    }
  }
  return rows.slice(0, n);
}

/** Seeds first, then rounds of Jacobian-based augmentation until n queries. */
export async function jacobianAugmentationStream(model: OnnxClassifier, seeds: readonly Float32Array[], n: number, lambda = 0.1): Promise<Float32Array[]> {
  const rows = [...seeds];
  let set = [...seeds];
  while (rows.length < n) {
    const input = stack(set);
    const classes = await predictedClasses(model, set);
    const grad = await model.classGradient(input, classes);
    const fresh = set.map((r, i) => r.map((v, j) => Math.min(1, Math.max(0, v + lambda * Math.sign(grad.data[i * PIXELS + j])))));
    rows.push(...fresh);
    set = [...set, ...fresh];
  }
  return rows.slice(0, n);
}

/** A copy of a digit shifted by up to `maxShift` pixels each way, with N(0, σ²) pixel noise, clipped to [0, 1]. */
export function lightlyAugmented(image: Float32Array, rng: Rng, maxShift = 2, sigma = 0.05): Float32Array {
  const dx = rng.int(2 * maxShift + 1) - maxShift;
  const dy = rng.int(2 * maxShift + 1) - maxShift;
  const out = new Float32Array(PIXELS);
  for (let r = 0; r < SIDE; r++) {
    for (let c = 0; c < SIDE; c++) {
      const sr = r - dy;
      const sc = c - dx;
      const v = sr >= 0 && sr < SIDE && sc >= 0 && sc < SIDE ? image[sr * SIDE + sc] : 0;
      out[r * SIDE + c] = Math.min(1, Math.max(0, v + sigma * rng.normal()));
    }
  }
  return out;
}

/** A Predictor that forwards to `model` and records every row it is asked about, in order. */
export function recordingPredictor(model: Predictor): Predictor & { queries: Float32Array[] } {
  const queries: Float32Array[] = [];
  return {
    queries,
    inputShape: model.inputShape,
    numClasses: model.numClasses,
    clipRange: model.clipRange,
    outputKind: model.outputKind,
    predict(x) {
      for (let i = 0; i < x.shape[0]; i++) queries.push(row(x, i));
      return model.predict(x);
    },
  };
}
