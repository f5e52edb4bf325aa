/**
 * How a membership attack is judged, as Carlini et al. argue in "Membership Inference
 * Attacks From First Principles" (2022): the whole ROC curve, read on log axes, and the
 * true-positive rate at low false-positive rates (0.1 % and 1 %), because an attack that
 * identifies a few members with certainty is a privacy breach even when its average-case
 * accuracy is near 50 %. AUC and balanced accuracy (the best threshold's, as that paper
 * reports it) are given too, for comparison with older work.
 */
import { AegisError } from "../../errors.js";

/** The false-positive rates the reports quote TPR at. */
export const LOW_FPRS = [0.001, 0.01] as const;

export interface MembershipMetrics {
  /** Area under the ROC curve: the chance that a random member scores above a random non-member (ties count half). */
  auc: number;
  /** max over thresholds of (TPR + TNR) / 2. */
  balancedAccuracy: number;
  /** TPR at the strictest threshold whose FPR is at most 0.1 % and 1 %. */
  tprAtLowFpr: { fpr: number; tpr: number }[];
  /** The ROC curve, (FPR, TPR) from (0, 0) to (1, 1), at most `maxPoints` points (see rocPoints). */
  roc: [number, number][];
  members: number;
  nonMembers: number;
}

/** What a threshold chosen without the answer gives on the real members and non-members. */
export interface ThresholdOutcome {
  threshold: number;
  tpr: number;
  fpr: number;
  /** (TPR + TNR) / 2 at this threshold. */
  balancedAccuracy: number;
}

/**
 * The metrics of `scores` (larger means "member") against the truth. NaN scores are
 * refused: an attack that cannot score a sample must say so, not hide it.
 */
export function membershipMetrics(scores: ArrayLike<number>, isMember: ArrayLike<boolean>, maxPoints = 400): MembershipMetrics {
  const roc = rocCurve(scores, isMember);
  const members = roc.positives;
  const nonMembers = roc.negatives;
  let balanced = 0.5;
  for (let i = 0; i < roc.fpr.length; i++) balanced = Math.max(balanced, (roc.tpr[i] + 1 - roc.fpr[i]) / 2);
  return {
    auc: areaUnderCurve(roc.fpr, roc.tpr),
    balancedAccuracy: balanced,
    tprAtLowFpr: LOW_FPRS.map((fpr) => ({ fpr, tpr: tprAtFpr(roc, fpr) })),
    roc: rocPoints(roc.fpr, roc.tpr, maxPoints),
    members,
    nonMembers,
  };
}

/** The ROC at every distinct score, from the highest threshold down: tied scores move together. */
export function rocCurve(
  scores: ArrayLike<number>,
  isMember: ArrayLike<boolean>,
): { fpr: number[]; tpr: number[]; thresholds: number[]; positives: number; negatives: number } {
  const n = scores.length;
  if (isMember.length !== n) throw new AegisError("SHAPE_MISMATCH", `${n} scores but ${isMember.length} membership labels`);
  let positives = 0;
  for (let i = 0; i < n; i++) {
    if (Number.isNaN(scores[i])) throw new AegisError("NON_FINITE", `the attack gave sample ${i} no score (NaN); check the model's outputs on it`);
    if (isMember[i]) positives++;
  }
  const negatives = n - positives;
  if (positives === 0 || negatives === 0) throw new AegisError("BAD_DATA", "membership metrics need at least one member and one non-member");
  // Compared, not subtracted: infinite scores (a boundary never reached) tie instead of giving NaN.
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => (scores[b] > scores[a] ? 1 : scores[b] < scores[a] ? -1 : 0));
  const fpr = [0];
  const tpr = [0];
  const thresholds = [Number.POSITIVE_INFINITY];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k];
    if (isMember[i]) tp++;
    else fp++;
    if (k + 1 < n && scores[order[k + 1]] === scores[i]) continue;
    fpr.push(fp / negatives);
    tpr.push(tp / positives);
    thresholds.push(scores[i]);
  }
  return { fpr, tpr, thresholds, positives, negatives };
}

/** Trapezoidal area; with ties moving together it equals the Mann–Whitney statistic. */
function areaUnderCurve(fpr: readonly number[], tpr: readonly number[]): number {
  let area = 0;
  for (let i = 1; i < fpr.length; i++) area += ((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1])) / 2;
  return area;
}

/** The best TPR among thresholds with FPR ≤ `target` (0 when even the strictest one exceeds it). */
function tprAtFpr(roc: { fpr: readonly number[]; tpr: readonly number[] }, target: number): number {
  let best = 0;
  for (let i = 0; i < roc.fpr.length; i++) if (roc.fpr[i] <= target + 1e-12) best = Math.max(best, roc.tpr[i]);
  return best;
}

/**
 * At most about `maxPoints` points of the curve for a log-axis chart: every point below
 * FPR 1 % (where the curve matters and has few points), then points spaced evenly in
 * log FPR up to 1; the ends are kept.
 */
function rocPoints(fpr: readonly number[], tpr: readonly number[], maxPoints: number): [number, number][] {
  if (fpr.length <= maxPoints) return fpr.map((f, i) => [f, tpr[i]]);
  const low = fpr.filter((f) => f < 0.01).length;
  const logStep = 2 / Math.max(2, maxPoints - low);
  const keep: [number, number][] = [];
  let next = -2;
  for (let i = 0; i < fpr.length; i++) {
    const spaced = fpr[i] >= 0.01 && Math.log10(fpr[i]) >= next;
    if (fpr[i] < 0.01 || spaced || i === fpr.length - 1) keep.push([fpr[i], tpr[i]]);
    if (spaced) next = Math.log10(fpr[i]) + logStep;
  }
  return keep;
}

/** TPR, FPR and balanced accuracy of "member when score ≥ threshold". */
export function thresholdOutcome(scores: ArrayLike<number>, isMember: ArrayLike<boolean>, threshold: number): ThresholdOutcome {
  let tp = 0;
  let fp = 0;
  let positives = 0;
  for (let i = 0; i < scores.length; i++) {
    const flagged = scores[i] >= threshold;
    if (isMember[i]) {
      positives++;
      if (flagged) tp++;
    } else if (flagged) fp++;
  }
  const negatives = scores.length - positives;
  const tpr = positives > 0 ? tp / positives : 0;
  const fpr = negatives > 0 ? fp / negatives : 0;
  return { threshold, tpr, fpr, balancedAccuracy: (tpr + 1 - fpr) / 2 };
}

/** The threshold with the best balanced accuracy on data whose membership is known (a shadow model's own). */
export function bestThreshold(scores: ArrayLike<number>, isMember: ArrayLike<boolean>): number {
  const roc = rocCurve(scores, isMember);
  let best = 1;
  for (let i = 1; i < roc.fpr.length; i++) if (roc.tpr[i] - roc.fpr[i] > roc.tpr[best] - roc.fpr[best]) best = i;
  return roc.thresholds[best];
}
