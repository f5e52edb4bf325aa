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
 */
import { AegisError } from "../../errors.js";

export interface LiraOptions {
  fixedVariance: boolean;
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
  const inside = gaussians(shadows, 1);
  const outside = gaussians(shadows, 0);
  const missing = [...inside.mean, ...outside.mean].some(Number.isNaN);
  if (missing) throw new AegisError("BAD_OPTION", "online LiRA needs, for every sample, shadow models trained with it and without it; use an online plan");
  const sdIn = options.fixedVariance ? inside.median : undefined;
  const sdOut = options.fixedVariance ? outside.median : undefined;
  return target.map((phi, i) => logNormal(phi, inside.mean[i], sdIn ?? inside.sd[i]) - logNormal(phi, outside.mean[i], sdOut ?? outside.sd[i]));
}

export function liraOffline(target: Float64Array, shadows: ShadowConfidences, options: LiraOptions): Float64Array {
  const outside = gaussians(shadows, 0);
  if (outside.mean.some(Number.isNaN)) throw new AegisError("BAD_OPTION", "offline LiRA needs, for every sample, a shadow model that did not train on it");
  return target.map((phi, i) => (phi - outside.mean[i]) / (options.fixedVariance ? outside.median : outside.sd[i]));
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
