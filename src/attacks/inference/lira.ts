/**
 * LiRA, the Likelihood Ratio Attack — Carlini, Chien, Nasr, Song, Terzis & Tramèr,
 * "Membership Inference Attacks From First Principles", IEEE S&P 2022.
 *
 * For each sample, the shadow models show how confident a model is on it with and without
 * having trained on it. The confidence is the logit of the true-class probability,
 * φ = log p_y − log(1 − p_y), averaged over the query augmentations, which makes it close to
 * Gaussian; LiRA fits one Gaussian to the IN models' φ and one to the OUT models' and asks
 * which explains the target's φ better:
 * - online: log N(φ; μ_in, σ²_in) − log N(φ; μ_out, σ²_out);
 * - offline (OUT models only, so shadow models never train on the samples under attack):
 *   the one-sided test Pr[Z < φ] for Z ~ N(μ_out, σ²_out), given here as its z-score
 *   (φ − μ_out)/σ_out, which orders samples the same way without rounding to 1.
 * With few shadow models the per-sample variances are noisy; the fixed-variance option uses
 * one σ for all samples (the median of the per-sample ones, as the paper's code), which
 * the paper recommends below 64 models.
 *
 * Target calibration (an Aegis addition, in the spirit of RMIA's population samples): models
 * trained the same way still differ in their overall confidence scale from one training run
 * to the next (on the overfit MNIST CNN, shadow models' mean φ on the same unseen digits
 * ranges from 10.7 to 16.0), so the shadow models' Gaussians sit at the wrong place for the
 * target, easy and hard samples differently. Population samples, which the target never
 * trained on, show where: `fitTargetScale` fits φ_target(z) ≈ offset + slope·μ_out(z) over
 * them, and the attacks read every shadow Gaussian through that map (mean → offset +
 * slope·mean, σ → slope·σ) before testing the target's φ.
 *
 * Offline likelihood ratio (also an Aegis addition): the one-sided test weighs a z-score of 2
 * on an easy sample, which training barely moves, the same as on a hard one, which it moves by
 * several σ. The shadow models did train on some population samples, so the population shows
 * how far training on a sample raises φ as a function of μ_out (`fitInShift`: per shadow
 * model, its φ on the samples it trained on against what its own calibration predicts without
 * them); offline LiRA then tests N(μ_out + Δ(μ_out), σ²) against N(μ_out, σ²), the
 * Neyman–Pearson test between the two, instead of the one-sided test.
 */
import { AegisError } from "../../errors.js";

/** Offline LiRA's tests: the likelihood ratio with the IN shift fitted on the population, or the paper's one-sided test. */
export const LIRA_OFFLINE_TESTS = ["likelihood-ratio", "one-sided"] as const;
export type LiraOfflineTest = (typeof LIRA_OFFLINE_TESTS)[number];

export interface LiraOptions {
  fixedVariance: boolean;
  /** The shadow models' φ scale mapped onto the target's (`fitTargetScale`); none: read as they are. */
  scale?: TargetScale;
  /** Offline: the IN shift estimated on the population (`fitInShift`) for the likelihood ratio; none: the one-sided test. */
  inShift?: InShift;
}

/** φ_target ≈ offset + slope · φ_shadow, on samples the target did not train on. */
export interface TargetScale {
  offset: number;
  slope: number;
  /** Population samples the fit used. */
  samples: number;
}

/** Fewer population samples than this give no calibration: the fit would be noise. */
export const MIN_CALIBRATION_SAMPLES = 20;

/**
 * How much training on a sample raises a model's φ, by the sample's OUT mean μ_out (on the
 * shadow models' scale): a piecewise-linear curve through (at[k], shift[k]), flat beyond its
 * ends, never negative.
 */
export interface InShift {
  at: number[];
  shift: number[];
  /** (shadow model, population sample) pairs it was estimated from. */
  samples: number;
}

/** φ of every shadow model on every sample, and which of them trained on it. */
export interface ShadowConfidences {
  /** Per shadow model, φ per sample. */
  phi: readonly Float64Array[];
  /** Per shadow model, 1 where it trained on the sample. */
  trained: readonly Uint8Array[];
}

const FLOOR = 1e-6;

export function liraOnline(target: Float64Array, shadows: ShadowConfidences, options: LiraOptions): Float64Array {
  const inside = rescale(gaussians(shadows, 1), options.scale);
  const outside = rescale(gaussians(shadows, 0), options.scale);
  const missing = [...inside.mean, ...outside.mean].some(Number.isNaN);
  if (missing) throw new AegisError("BAD_OPTION", "online LiRA needs, for every sample, shadow models trained with it and without it; use an online plan");
  const sdIn = options.fixedVariance ? inside.median : undefined;
  const sdOut = options.fixedVariance ? outside.median : undefined;
  return target.map((phi, i) => logNormal(phi, inside.mean[i], sdIn ?? inside.sd[i]) - logNormal(phi, outside.mean[i], sdOut ?? outside.sd[i]));
}

export function liraOffline(target: Float64Array, shadows: ShadowConfidences, options: LiraOptions): Float64Array {
  const raw = gaussians(shadows, 0);
  if (raw.mean.some(Number.isNaN)) throw new AegisError("BAD_OPTION", "offline LiRA needs, for every sample, a shadow model that did not train on it");
  const outside = rescale(raw, options.scale);
  const { inShift } = options;
  const slope = options.scale?.slope ?? 1;
  return target.map((phi, i) => {
    const sd = options.fixedVariance ? outside.median : outside.sd[i];
    if (!inShift) return (phi - outside.mean[i]) / sd;
    // log N(φ; μ_out + Δ, σ²) − log N(φ; μ_out, σ²), with Δ on the target's scale.
    const shift = slope * interpolate(inShift, raw.mean[i]);
    return (shift * (phi - outside.mean[i] - shift / 2)) / (sd * sd);
  });
}

/**
 * The IN shift by μ_out (see the header), from the population samples the shadow models
 * trained on: median shift in up to 10 bins of equal count; null with fewer than
 * MIN_CALIBRATION_SAMPLES such (model, sample) pairs.
 */
export function fitInShift(population: ShadowConfidences): InShift | null {
  const { mean } = gaussians(population, 0);
  const valid = [...mean.keys()].filter((i) => !Number.isNaN(mean[i]));
  const pairs: { at: number; shift: number }[] = [];
  for (const [j, phi] of population.phi.entries()) {
    const trained = population.trained[j];
    const own = leastSquares(
      phi,
      mean,
      valid.filter((i) => trained[i] === 0),
    );
    if (!own) continue;
    for (const i of valid) if (trained[i] === 1) pairs.push({ at: mean[i], shift: (phi[i] - own.offset - own.slope * mean[i]) / own.slope });
  }
  if (pairs.length < MIN_CALIBRATION_SAMPLES) return null;
  pairs.sort((a, b) => a.at - b.at);
  const bins = Math.min(10, Math.floor(pairs.length / MIN_CALIBRATION_SAMPLES));
  const at: number[] = [];
  const shift: number[] = [];
  for (let k = 0; k < bins; k++) {
    const bin = pairs.slice(Math.floor((k * pairs.length) / bins), Math.floor(((k + 1) * pairs.length) / bins));
    at.push(median(bin.map((p) => p.at)));
    shift.push(Math.max(0, median(bin.map((p) => p.shift))));
  }
  return { at, shift, samples: pairs.length };
}

function interpolate(curve: InShift, x: number): number {
  const { at, shift } = curve;
  if (x <= at[0]) return shift[0];
  for (let k = 1; k < at.length; k++)
    if (x <= at[k]) return at[k] === at[k - 1] ? shift[k] : shift[k - 1] + ((shift[k] - shift[k - 1]) * (x - at[k - 1])) / (at[k] - at[k - 1]);
  return shift[shift.length - 1];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
}

/**
 * Least squares of the target's φ on the population against the OUT shadow models' mean φ
 * on the same samples; null when fewer than MIN_CALIBRATION_SAMPLES samples have an OUT
 * model, or when the target's φ does not rise with the shadows' (slope ≤ 0: no scale to map).
 */
export function fitTargetScale(target: Float64Array, population: ShadowConfidences): TargetScale | null {
  const { mean } = gaussians(population, 0);
  return leastSquares(
    target,
    mean,
    [...mean.keys()].filter((i) => !Number.isNaN(mean[i])),
  );
}

/** y ≈ offset + slope·x over `rows`; null with fewer than MIN_CALIBRATION_SAMPLES rows or a slope ≤ 0. */
function leastSquares(y: Float64Array, x: Float64Array, rows: number[]): TargetScale | null {
  if (rows.length < MIN_CALIBRATION_SAMPLES) return null;
  const mx = rows.reduce((sum, i) => sum + x[i], 0) / rows.length;
  const my = rows.reduce((sum, i) => sum + y[i], 0) / rows.length;
  let covariance = 0;
  let variance = 0;
  for (const i of rows) {
    covariance += (x[i] - mx) * (y[i] - my);
    variance += (x[i] - mx) ** 2;
  }
  const slope = covariance / variance;
  if (!(slope > 0)) return null;
  return { offset: my - slope * mx, slope, samples: rows.length };
}

type Gaussians = ReturnType<typeof gaussians>;

function rescale(g: Gaussians, scale: TargetScale | undefined): Gaussians {
  if (!scale) return g;
  const { offset, slope } = scale;
  return { mean: g.mean.map((m) => offset + slope * m), sd: g.sd.map((sd) => slope * sd), median: slope * g.median };
}

/** Per sample, mean and standard deviation of φ over the shadow models with `trained` = which; NaN where there are none. */
function gaussians(shadows: ShadowConfidences, which: 0 | 1): { mean: Float64Array; sd: Float64Array; median: number } {
  const n = shadows.phi[0]?.length ?? 0;
  const mean = new Float64Array(n);
  const sd = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let count = 0;
    let sum = 0;
    let squares = 0;
    for (const [j, phi] of shadows.phi.entries()) {
      if (shadows.trained[j][i] !== which) continue;
      count++;
      sum += phi[i];
      squares += phi[i] * phi[i];
    }
    mean[i] = count > 0 ? sum / count : Number.NaN;
    // The population standard deviation, as the paper's code (numpy's default); one model gives 0, floored below.
    sd[i] = Math.max(FLOOR, count > 0 ? Math.sqrt(Math.max(0, squares / count - mean[i] * mean[i])) : 0);
  }
  const sorted = Float64Array.from(sd).sort();
  const median = n > 0 ? (sorted[(n - 1) >> 1] + sorted[n >> 1]) / 2 : FLOOR;
  return { mean, sd, median: Math.max(FLOOR, median) };
}

function logNormal(x: number, mean: number, sd: number): number {
  const z = (x - mean) / sd;
  return -0.5 * z * z - Math.log(sd);
}
