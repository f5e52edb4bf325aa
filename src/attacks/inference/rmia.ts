/**
 * RMIA, the Robust Membership Inference Attack — Zarifzadeh, Liu & Shokri, "Low-Cost
 * High-Power Membership Inference Attacks", ICML 2024.
 *
 * Instead of modelling each sample's confidence distribution (LiRA), RMIA compares the
 * sample x with many population samples z: with Pr(x|θ) the target's true-class
 * probability (averaged over augmentations) and Pr(x) its average over reference models,
 * the likelihood ratio LR(x, z) = [Pr(x|θ)/Pr(x)] / [Pr(z|θ)/Pr(z)], and the score is the
 * share of population samples z with LR(x, z) ≥ γ. Because every z calibrates x, it stays
 * strong with one to four reference models, where LiRA's Gaussians are guesses.
 * - online: Pr(x) averages all reference models (half trained on x);
 * - offline: only models that did not train on x, corrected as
 *   Pr(x) = ½((1 + a)·Pr_OUT(x) + (1 − a)); the paper chooses a by attacking one
 *   reference model with the others, which `calibrateOfflineA` does over a ∈ {0, 0.1, …, 1}
 *   (averaged over up to four such simulated targets).
 * Defaults from the paper: γ = 1 (its CIFAR-10 setting varies γ; 1 keeps every z that x beats).
 */
import { AegisError } from "../../errors.js";
import { membershipMetrics } from "./metrics.js";

export interface RmiaOptions {
  online: boolean;
  /** Offline correction a ∈ [0, 1]; ignored online. */
  a: number;
  gamma: number;
}

/** Reference models' true-class probabilities on the samples under attack and on the population, and which samples each trained on. */
export interface ReferenceProbabilities {
  candidates: readonly Float64Array[];
  trainedCandidates: readonly Uint8Array[];
  population: readonly Float64Array[];
  trainedPopulation: readonly Uint8Array[];
}

export function rmia(target: { candidates: Float64Array; population: Float64Array }, refs: ReferenceProbabilities, options: RmiaOptions): Float64Array {
  if (!(options.gamma > 0)) throw new AegisError("BAD_OPTION", `RMIA's γ must be positive, not ${options.gamma}`);
  const px = marginal(refs.candidates, refs.trainedCandidates, options);
  if (px.some(Number.isNaN)) throw new AegisError("BAD_OPTION", "offline RMIA needs, for every sample, a reference model that did not train on it");
  const pz = marginal(refs.population, refs.trainedPopulation, options);
  // Offline, a population sample every reference model trained on has no OUT estimate: it cannot calibrate, so it is left out.
  const usable = ratios(target.population, pz).filter((r) => !Number.isNaN(r));
  if (usable.length === 0)
    throw new AegisError(
      "BAD_DATA",
      "every population sample was trained on by every reference model; give more reference data than each shadow model trains on",
    );
  return pairwiseScores(ratios(target.candidates, px), usable, options.gamma);
}

/**
 * The offline a that attacks reference model j best using the other models (AUC on the
 * population samples, whose membership in j is known), averaged over up to four j.
 */
export function calibrateOfflineA(refs: Pick<ReferenceProbabilities, "population" | "trainedPopulation">, gamma: number): number {
  const count = refs.population.length;
  if (count < 2) return 0.5;
  let best = { a: 0.5, auc: -1 };
  for (let step = 0; step <= 10; step++) {
    const a = step / 10;
    let sum = 0;
    const simulated = Math.min(4, count);
    for (let j = 0; j < simulated; j++) {
      const others = (list: readonly Float64Array[] | readonly Uint8Array[]) => list.filter((_, k) => k !== j);
      const trainedAll = others(refs.trainedPopulation) as Uint8Array[];
      // Only the samples some other model did not train on can be scored offline.
      const scorable = Array.from(refs.population[j], (_, i) => trainedAll.some((t) => t[i] === 0));
      const rows = [...scorable.keys()].filter((i) => scorable[i]);
      const pick = <T extends Float64Array | Uint8Array>(v: T) => v.filter((_, i) => scorable[i]) as T;
      const members = rows.map((i) => refs.trainedPopulation[j][i] === 1);
      if (members.every((m) => m) || members.every((m) => !m)) continue;
      const probabilities = (others(refs.population) as Float64Array[]).map(pick);
      const trained = trainedAll.map(pick);
      const target = pick(refs.population[j]);
      const scores = rmia(
        { candidates: target, population: target },
        { candidates: probabilities, trainedCandidates: trained, population: probabilities, trainedPopulation: trained },
        { online: false, a, gamma },
      );
      sum += membershipMetrics(scores, members).auc;
    }
    if (sum > best.auc) best = { a, auc: sum };
  }
  return best.a;
}

/** Pr(x) per sample from the reference models (see the header); NaN offline where every model trained on it. */
function marginal(probabilities: readonly Float64Array[], trained: readonly Uint8Array[], o: RmiaOptions): Float64Array {
  const n = probabilities[0]?.length ?? 0;
  if (probabilities.length === 0) throw new AegisError("BAD_OPTION", "RMIA needs at least one reference model");
  return Float64Array.from({ length: n }, (_, i) => {
    let sum = 0;
    let count = 0;
    for (const [j, p] of probabilities.entries()) {
      if (!o.online && trained[j][i] === 1) continue;
      sum += p[i];
      count++;
    }
    if (count === 0) return Number.NaN;
    const mean = sum / count;
    return o.online ? mean : ((1 + o.a) * mean + (1 - o.a)) / 2;
  });
}

function ratios(target: Float64Array, marginals: Float64Array): Float64Array {
  return target.map((p, i) => p / Math.max(marginals[i], 1e-30));
}

/**
 * Per x, the share of z with ratio(x) / ratio(z) ≥ γ, by binary search in the sorted z
 * ratios. Samples that beat the same number of z are ordered by their own ratio (a term
 * smaller than one step of the share), so the ROC is not cut into steps of 1/|z| at the
 * low false-positive rates that matter.
 */
function pairwiseScores(x: Float64Array, z: Float64Array, gamma: number): Float64Array {
  const sorted = Float64Array.from(z).sort();
  const step = 1 / (sorted.length + 1);
  return x.map((rx) => {
    const bound = rx / gamma;
    let lo = 0;
    let hi = sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sorted[mid] <= bound) lo = mid + 1;
      else hi = mid;
    }
    // rx / (1 + rx) rises with rx and stays below 1.
    return (lo + (0.999 * rx) / (1 + rx)) * step;
  });
}
