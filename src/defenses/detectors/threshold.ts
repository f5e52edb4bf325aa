/**
 * What every detector shares: a threshold set at a chosen false-positive rate on clean
 * scores, and the numbers a detector is judged by — the flagged fraction of a set (the
 * true-positive rate on adversarial inputs, the false-positive rate on clean ones) and
 * the area under the ROC curve, which does not depend on the threshold.
 */
import { AegisError } from "../../errors.js";

/**
 * The threshold that flags at most ⌊fpr·n⌋ of the clean scores (flagged: score ≥ threshold):
 * half-way between the largest clean score that must pass and the smallest that may be flagged.
 */
export function thresholdAtFpr(cleanScores: ArrayLike<number>, fpr: number): number {
  if (!(fpr >= 0 && fpr < 1)) throw new AegisError("BAD_OPTION", `--fpr must be in [0, 1), not ${fpr}`);
  const n = cleanScores.length;
  if (n === 0) throw new AegisError("BAD_DATA", "a detector's threshold needs at least one clean sample");
  const sorted = Float64Array.from(cleanScores).sort().reverse();
  if (sorted.some((v) => Number.isNaN(v))) throw new AegisError("NON_FINITE", "a detector scored a clean sample as NaN; check the model and the data");
  const allowed = Math.floor(fpr * n);
  const pass = sorted[allowed] ?? sorted[n - 1];
  // Scores equal to the largest passing one are not flagged; `allowed` may then flag fewer.
  let flaggedFloor = allowed > 0 ? sorted[allowed - 1] : Number.POSITIVE_INFINITY;
  if (!(flaggedFloor > pass)) flaggedFloor = Number.POSITIVE_INFINITY;
  return Number.isFinite(flaggedFloor) ? pass + (flaggedFloor - pass) / 2 : nextAbove(pass);
}

/** The smallest double above v (so that v itself is not flagged). */
function nextAbove(v: number): number {
  if (!Number.isFinite(v)) return v;
  if (v === 0) return Number.MIN_VALUE;
  const value = new Float64Array([v]);
  const bits = new BigInt64Array(value.buffer);
  bits[0] += v > 0 ? 1n : -1n;
  return value[0];
}

export function flaggedFraction(scores: ArrayLike<number>, threshold: number): number {
  if (scores.length === 0) return 0;
  let flagged = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] >= threshold) flagged++;
  return flagged / scores.length;
}

/**
 * Area under the ROC curve of adversarial (positive) against clean (negative) scores: the
 * probability that a random adversarial input scores above a random clean one, ties
 * counting one half (the Mann–Whitney statistic).
 */
export function auroc(cleanScores: ArrayLike<number>, adversarialScores: ArrayLike<number>): number {
  const n0 = cleanScores.length;
  const n1 = adversarialScores.length;
  if (n0 === 0 || n1 === 0) return Number.NaN;
  const all = [...Array.from(cleanScores, (s) => ({ s, positive: false })), ...Array.from(adversarialScores, (s) => ({ s, positive: true }))];
  all.sort((a, b) => a.s - b.s);
  // Mid-ranks for ties, then the rank-sum of the positives.
  let rankSum = 0;
  for (let i = 0; i < all.length; ) {
    let j = i;
    while (j + 1 < all.length && all[j + 1].s === all[i].s) j++;
    const midRank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (all[k].positive) rankSum += midRank;
    i = j + 1;
  }
  return (rankSum - (n1 * (n1 + 1)) / 2) / (n0 * n1);
}
