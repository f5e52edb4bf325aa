/**
 * Mahalanobis detector — Lee, Lee, Lee & Shin, "A Simple Unified Framework for Detecting
 * Out-of-Distribution Samples and Adversarial Attacks", NeurIPS 2018. Class-conditional
 * Gaussians with one tied covariance are fitted to a layer's features of clean training
 * data (class means μ_c, Σ = the pooled within-class covariance); the paper's confidence
 * score is M(x) = max_c −(f(x) − μ_c)ᵀ Σ⁻¹ (f(x) − μ_c), and this detector's score is −M(x),
 * the squared Mahalanobis distance to the closest class (higher = more suspicious), flagged
 * at a threshold chosen at a false-positive rate on clean data. Optional input
 * pre-processing (the paper's ε): x̂ = x − ε·sign(∇ₓ distance to the closest class), then
 * x̂ is scored. Deliberate deviations: one layer (the penultimate by default) instead of
 * the paper's logistic-regression ensemble over all layers, which needs adversarial or
 * out-of-distribution examples to fit (as the paper finds, lower layers matter: on the MNIST
 * CNN the first convolution's channel means detect C&W and PGD far better than the
 * penultimate layer, see test/defenses/detectors.test.ts); noise magnitude 0 by default
 * (the paper tunes it on validation data from {0, 0.0005, 0.001, 0.0014, 0.002, 0.005,
 * 0.01, 0.05, 0.1, 0.2});
 * Σ⁻¹ is the pseudo-inverse (as scikit-learn's EmpiricalCovariance in the authors' code),
 * cutting eigenvalues below D·ε_float32·λ_max so dead ReLU units do not blow it up.
 */
import type { FeatureExtractor } from "../../engine/features.js";
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Detector } from "../types.js";
import { thresholdAtFpr } from "./threshold.js";

/** The fitted Gaussians: what is saved with a detector. */
export interface MahalanobisStatistics {
  /** The feature value the Gaussians model. */
  layer: string;
  /** Classes that had samples, in order; row c of `means` belongs to classes[c]. */
  classes: number[];
  /** Class means [classes.length, D]. */
  means: Float64Array;
  /** Pseudo-inverse of the tied covariance [D, D]. */
  precision: Float64Array;
  dim: number;
}

export interface MahalanobisDetectorOptions {
  /** ε of the input pre-processing (default 0: none). */
  noiseMagnitude?: number;
}

export interface MahalanobisDetector extends Detector {
  readonly name: "mahalanobis";
  readonly statistics: MahalanobisStatistics;
  readonly noiseMagnitude: number;
  readonly fpr: number;
  /** The closest class of each sample by Mahalanobis distance (the generative classifier of the paper). */
  closestClass(x: Tensor<"float32">): Promise<number[]>;
}

const FLOAT32_EPS = 1.1920929e-7;

/** Class means and the pseudo-inverse of the pooled within-class covariance of features [N, D]. */
export function fitGaussians(features: Tensor<"float32">, labels: readonly number[], layer: string): MahalanobisStatistics {
  const [n, d] = features.shape;
  if (labels.length !== n) throw new AegisError("SHAPE_MISMATCH", `${n} samples but ${labels.length} labels; give one label per sample`);
  const classes = [...new Set(labels)].sort((a, b) => a - b);
  const index = new Map(classes.map((c, i) => [c, i]));
  const means = new Float64Array(classes.length * d);
  const counts = new Float64Array(classes.length);
  for (let i = 0; i < n; i++) {
    const c = index.get(labels[i]) as number;
    counts[c]++;
    for (let j = 0; j < d; j++) means[c * d + j] += features.data[i * d + j];
  }
  for (let c = 0; c < classes.length; c++) for (let j = 0; j < d; j++) means[c * d + j] /= counts[c];
  const covariance = new Float64Array(d * d);
  const centred = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const c = index.get(labels[i]) as number;
    for (let j = 0; j < d; j++) centred[j] = features.data[i * d + j] - means[c * d + j];
    for (let a = 0; a < d; a++) {
      const va = centred[a];
      if (va === 0) continue;
      for (let b = a; b < d; b++) covariance[a * d + b] += va * centred[b];
    }
  }
  for (let a = 0; a < d; a++) {
    for (let b = a; b < d; b++) {
      covariance[a * d + b] /= n;
      covariance[b * d + a] = covariance[a * d + b];
    }
  }
  return { layer, classes, means, precision: pseudoInverseSymmetric(covariance, d), dim: d };
}

/** Squared Mahalanobis distance of every sample to every class [N, classes]. */
export function classDistances(stats: MahalanobisStatistics, features: Tensor<"float32">): Float64Array {
  const [n, d] = features.shape;
  if (d !== stats.dim)
    throw new AegisError("SHAPE_MISMATCH", `the layer gives ${d} features but the detector was fitted on ${stats.dim}; refit it for this model`);
  const k = stats.classes.length;
  const out = new Float64Array(n * k);
  const u = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      for (let j = 0; j < d; j++) u[j] = features.data[i * d + j] - stats.means[c * d + j];
      let q = 0;
      for (let a = 0; a < d; a++) {
        let pu = 0;
        const row = a * d;
        for (let b = 0; b < d; b++) pu += stats.precision[row + b] * u[b];
        q += u[a] * pu;
      }
      out[i * k + c] = q;
    }
  }
  return out;
}

export function mahalanobisDetector(
  extractor: FeatureExtractor,
  statistics: MahalanobisStatistics,
  options: MahalanobisDetectorOptions & { threshold: number; fpr?: number },
): MahalanobisDetector {
  const noiseMagnitude = options.noiseMagnitude ?? 0;
  if (!(noiseMagnitude >= 0)) throw new AegisError("BAD_OPTION", `the noise magnitude must be ≥ 0, not ${noiseMagnitude}`);
  if (extractor.layer !== statistics.layer) {
    throw new AegisError("BAD_OPTION", `the detector models the layer "${statistics.layer}" but the feature extractor reads "${extractor.layer}"`);
  }
  const k = statistics.classes.length;
  const d = statistics.dim;

  const closest = (distances: Float64Array, i: number) => {
    let best = 0;
    for (let c = 1; c < k; c++) if (distances[i * k + c] < distances[i * k + best]) best = c;
    return best;
  };

  /** The inputs moved by ε against the gradient of their distance to the closest class. */
  const preprocess = async (x: Tensor<"float32">, features: Tensor<"float32">, distances: Float64Array) => {
    const n = x.shape[0];
    // ∂/∂f (f − μ)ᵀP(f − μ) = 2P(f − μ): the seed of the backward pass through the network.
    const seed = new Float32Array(n * d);
    for (let i = 0; i < n; i++) {
      const c = closest(distances, i);
      for (let a = 0; a < d; a++) {
        let s = 0;
        for (let b = 0; b < d; b++) s += statistics.precision[a * d + b] * (features.data[i * d + b] - statistics.means[c * d + b]);
        seed[i * d + a] = 2 * s;
      }
    }
    const grad = await extractor.vjp(x, float32([n, d], seed));
    const moved = new Float32Array(x.data.length);
    for (let j = 0; j < moved.length; j++) moved[j] = x.data[j] - noiseMagnitude * Math.sign(grad.data[j]);
    return float32(x.shape, moved);
  };

  const distancesOf = async (x: Tensor<"float32">) => {
    let { features } = await extractor.extract(x);
    let distances = classDistances(statistics, features);
    if (noiseMagnitude > 0) {
      features = (await extractor.extract(await preprocess(x, features, distances))).features;
      distances = classDistances(statistics, features);
    }
    return distances;
  };

  return {
    name: "mahalanobis",
    statistics,
    noiseMagnitude,
    threshold: options.threshold,
    fpr: options.fpr ?? Number.NaN,
    async score(x) {
      const distances = await distancesOf(x);
      const n = x.shape[0];
      return Float32Array.from({ length: n }, (_, i) => distances[i * k + closest(distances, i)]);
    },
    async closestClass(x) {
      const distances = await distancesOf(x);
      return Array.from({ length: x.shape[0] }, (_, i) => statistics.classes[closest(distances, i)]);
    },
  };
}

export interface FitMahalanobisOptions extends MahalanobisDetectorOptions {
  /** False-positive rate of the threshold on clean data (default 0.05). */
  fpr?: number;
  /** Clean inputs the threshold is set on (default: the training inputs). */
  calibration?: Tensor<"float32">;
}

/**
 * Fits the Gaussians on clean training inputs with their labels (Lee et al. use the true
 * labels), then the threshold on the calibration inputs.
 */
export async function fitMahalanobis(
  extractor: FeatureExtractor,
  x: Tensor<"float32">,
  labels: readonly number[],
  options: FitMahalanobisOptions = {},
): Promise<MahalanobisDetector> {
  const fpr = options.fpr ?? 0.05;
  const { features } = await extractor.extract(x);
  const statistics = fitGaussians(features, labels, extractor.layer);
  const unfitted = mahalanobisDetector(extractor, statistics, { ...options, threshold: Number.POSITIVE_INFINITY });
  const scores = await unfitted.score(options.calibration ?? x);
  return { ...unfitted, threshold: thresholdAtFpr(scores, fpr), fpr };
}

/**
 * Pseudo-inverse of a symmetric positive semi-definite matrix by the cyclic Jacobi
 * eigenvalue method: A = V Λ Vᵀ, A⁺ = V Λ⁺ Vᵀ with eigenvalues below the cut-off set to zero.
 */
export function pseudoInverseSymmetric(matrix: Float64Array, d: number): Float64Array {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let p = 0; p < d; p++) {
      diag += a[p * d + p] ** 2;
      for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    }
    if (off <= 1e-30 * diag || off === 0) break;
    for (let p = 0; p < d - 1; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (apq === 0) continue;
        // Rotation that zeroes a[p][q] (Rutishauser's stable form).
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  let largest = 0;
  for (let i = 0; i < d; i++) largest = Math.max(largest, Math.abs(a[i * d + i]));
  const cutoff = d * FLOAT32_EPS * largest;
  const inverse = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const lambda = a[k * d + k];
    if (!(lambda > cutoff)) continue;
    for (let i = 0; i < d; i++) {
      const vik = v[i * d + k] / lambda;
      if (vik === 0) continue;
      for (let j = 0; j < d; j++) inverse[i * d + j] += vik * v[j * d + k];
    }
  }
  return inverse;
}
