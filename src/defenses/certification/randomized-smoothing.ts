/**
 * Randomized smoothing — Cohen, Rosenfeld & Kolter, "Certified Adversarial Robustness via
 * Randomized Smoothing", ICML 2019. The smoothed classifier g(x) = argmax_c P(f(x + ε) = c),
 * ε ~ N(0, σ²I), is estimated by Monte Carlo. PREDICT returns the top class of n noisy
 * samples when a two-sided binomial test says it beats the runner-up at level α, else
 * abstains. CERTIFY picks the top class ĉ_A from n0 samples, counts it in n fresh samples,
 * bounds p_A from below with the one-sided Clopper–Pearson bound at level 1 − α, and, when
 * that bound exceeds ½, certifies ĉ_A within the L2 radius σ·Φ⁻¹(p_A) (Theorem 1 with
 * p_B = 1 − p_A); otherwise it abstains. Defaults are the paper's: n0 = 100, n = 100,000,
 * α = 0.001. As in the paper, noisy inputs are not clipped to the valid range.
 */

import { binomialTestHalf, clopperPearsonLower } from "../../binomial.js";
import { createRng, deriveSeed, type Rng } from "../../data/random.js";
import type { Predictor } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { normalQuantile } from "../../normal.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";

export interface SmoothingOptions {
  /** Standard deviation of the Gaussian noise, in input units. */
  sigma: number;
  /** Noisy samples for the estimate (default 100,000). */
  n?: number;
  /** Failure probability of the test or the bound (default 0.001). */
  alpha?: number;
  /** Noisy samples per model call (default 1,000). */
  batchSize?: number;
  /** Seed of the noise (default 0); each sample draws from its own seed, derived from this and its index. */
  seed?: number;
  /** Index of x's first sample in the whole run, so a part of it draws the noise the whole run would (default 0). */
  offset?: number;
  /** Stops after the current sample; what is finished is returned. */
  signal?: AbortSignal;
  /** Called as samples finish (done out of total). */
  onProgress?: (done: number, total: number) => void;
}

export interface CertifyOptions extends SmoothingOptions {
  /** Noisy samples used to choose the class to certify (default 100). */
  n0?: number;
}

export interface Certificate {
  /** The certified class, or null when the smoothed classifier abstains. */
  prediction: number | null;
  /** Certified L2 radius (0 on abstain). */
  radius: number;
  /** Lower confidence bound on the probability of the predicted class. */
  pALower: number;
  /** Votes of the n noisy samples for the class chosen from the n0 selection samples. */
  count: number;
}

export const SMOOTHING_DEFAULTS = { n0: 100, n: 100_000, alpha: 0.001, batchSize: 1000 } as const;

/** The largest radius n samples can certify at level α: σ·Φ⁻¹(α^{1/n}), when all n votes agree. */
export function maximumRadius(sigma: number, n: number, alpha: number): number {
  return sigma * normalQuantile(alpha ** (1 / n));
}

function check(options: CertifyOptions): Required<Pick<CertifyOptions, "sigma" | "n" | "n0" | "alpha" | "batchSize">> {
  const n = options.n ?? SMOOTHING_DEFAULTS.n;
  const n0 = options.n0 ?? SMOOTHING_DEFAULTS.n0;
  const alpha = options.alpha ?? SMOOTHING_DEFAULTS.alpha;
  const batchSize = options.batchSize ?? SMOOTHING_DEFAULTS.batchSize;
  if (!(options.sigma > 0 && Number.isFinite(options.sigma))) throw new AegisError("BAD_OPTION", `--sigma must be a positive number, not ${options.sigma}`);
  if (!Number.isInteger(n) || n < 1) throw new AegisError("BAD_OPTION", `--n must be a positive integer, not ${n}`);
  if (!Number.isInteger(n0) || n0 < 1) throw new AegisError("BAD_OPTION", `--n0 must be a positive integer, not ${n0}`);
  if (!(alpha > 0 && alpha < 1)) throw new AegisError("BAD_OPTION", `--alpha must be in (0, 1), not ${alpha}`);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new AegisError("BAD_OPTION", `--batch-size must be a positive integer, not ${batchSize}`);
  return { sigma: options.sigma, n, n0, alpha, batchSize };
}

/** Votes per class of f on `num` noisy copies of one sample [1, …shape]. */
export async function sampleUnderNoise(
  model: Predictor,
  sample: Tensor<"float32">,
  num: number,
  sigma: number,
  batchSize: number,
  rng: Rng,
): Promise<Int32Array> {
  const row = sizeOf(sample.shape.slice(1));
  const counts = new Int32Array(model.numClasses);
  const noisy = new Float32Array(Math.min(batchSize, num) * row);
  for (let done = 0; done < num; ) {
    const m = Math.min(batchSize, num - done);
    for (let i = 0; i < m; i++) {
      const base = i * row;
      for (let j = 0; j < row; j++) noisy[base + j] = sample.data[j] + sigma * rng.normal();
    }
    const out = await model.predict(float32([m, ...sample.shape.slice(1)], noisy.subarray(0, m * row)));
    const k = out.shape[1];
    for (let i = 0; i < m; i++) {
      let best = 0;
      for (let c = 1; c < k; c++) if (out.data[i * k + c] > out.data[i * k + best]) best = c;
      counts[best]++;
    }
    done += m;
  }
  return counts;
}

function topTwo(counts: Int32Array): [number, number] {
  let first = 0;
  let second = counts.length > 1 ? 1 : 0;
  if (counts[second] > counts[first]) [first, second] = [second, first];
  for (let c = 2; c < counts.length; c++) {
    if (counts[c] > counts[first]) {
      second = first;
      first = c;
    } else if (counts[c] > counts[second]) second = c;
  }
  return [first, second];
}

function sampleAt(x: Tensor<"float32">, i: number): Tensor<"float32"> {
  const row = sizeOf(x.shape.slice(1));
  return float32([1, ...x.shape.slice(1)], x.data.subarray(i * row, (i + 1) * row));
}

/** The noise of sample i of x: its own stream, so samples can be certified in any order or place. */
function sampleRng(options: SmoothingOptions, i: number): Rng {
  return createRng(deriveSeed(options.seed ?? 0, (options.offset ?? 0) + i));
}

/** PREDICT: the smoothed classifier's class per sample, or null (abstain). */
export async function predictSmoothed(model: Predictor, x: Tensor<"float32">, options: SmoothingOptions): Promise<(number | null)[]> {
  const { sigma, n, alpha, batchSize } = check(options);
  const total = x.shape[0];
  const out: (number | null)[] = [];
  for (let i = 0; i < total; i++) {
    if (options.signal?.aborted) break;
    const counts = await sampleUnderNoise(model, sampleAt(x, i), n, sigma, batchSize, sampleRng(options, i));
    const [a, b] = topTwo(counts);
    out.push(binomialTestHalf(counts[a], counts[a] + counts[b]) <= alpha ? a : null);
    options.onProgress?.(i + 1, total);
  }
  return out;
}

/** CERTIFY: per sample the certified class (or abstain) and its certified L2 radius. */
export async function certify(model: Predictor, x: Tensor<"float32">, options: CertifyOptions): Promise<Certificate[]> {
  const { sigma, n, n0, alpha, batchSize } = check(options);
  const total = x.shape[0];
  const out: Certificate[] = [];
  for (let i = 0; i < total; i++) {
    if (options.signal?.aborted) break;
    const sample = sampleAt(x, i);
    const rng = sampleRng(options, i);
    const selection = await sampleUnderNoise(model, sample, n0, sigma, batchSize, rng);
    const [guess] = topTwo(selection);
    const estimation = await sampleUnderNoise(model, sample, n, sigma, batchSize, rng);
    const count = estimation[guess];
    const pALower = clopperPearsonLower(count, n, alpha);
    out.push(pALower > 0.5 ? { prediction: guess, radius: sigma * normalQuantile(pALower), pALower, count } : { prediction: null, radius: 0, pALower, count });
    options.onProgress?.(i + 1, total);
  }
  return out;
}

/**
 * Certified accuracy at each radius: the share of samples whose certified class is the label
 * and whose radius is at least r (Cohen et al.'s curves). Interrupted runs count only the
 * certificates they have.
 */
export function certifiedAccuracy(results: readonly Certificate[], labels: readonly number[], radii: readonly number[]): number[] {
  if (labels.length < results.length) throw new AegisError("SHAPE_MISMATCH", `${results.length} certificates but ${labels.length} labels`);
  if (results.length === 0) return radii.map(() => 0);
  return radii.map((r) => results.filter((c, i) => c.prediction !== null && c.prediction === labels[i] && c.radius >= r).length / results.length);
}

/** The share of samples on which the smoothed classifier abstains. */
export function abstainRate(results: readonly Certificate[]): number {
  return results.length === 0 ? 0 : results.filter((c) => c.prediction === null).length / results.length;
}
