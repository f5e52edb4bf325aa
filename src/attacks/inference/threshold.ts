/**
 * Threshold attacks: a sample is a member when the model's loss on it is low — Yeom,
 * Giacomelli, Fredrikson & Jha, "Privacy Risk in Machine Learning: Analyzing the Connection
 * to Overfitting", IEEE CSF 2018 — or when its top confidence is high (the label-free
 * variant of Salem et al., "ML-Leaks", NDSS 2019).
 *
 * The threshold is calibrated on reference data, never on the answer: each shadow model
 * (trained like the target on reference data) gives the threshold that best separates its
 * own training samples from the reference samples it did not see, and the attack uses their
 * mean. Deviation: Yeom et al. set the threshold to the target's average training loss,
 * assumed known; the shadow models estimate the same quantity without that assumption.
 * The ROC, AUC and TPR at low FPR do not depend on the threshold.
 */
import { bestThreshold } from "./metrics.js";
import { maxConfidence, type Outputs, sampleLoss } from "./observations.js";

export const THRESHOLD_SIGNALS = ["loss", "confidence"] as const;
export type ThresholdSignal = (typeof THRESHOLD_SIGNALS)[number];

/** Per sample, larger for "member": the negated loss, or the top confidence. */
export function thresholdScores(signal: ThresholdSignal, outputs: Outputs, labels: readonly number[]): Float64Array {
  return signal === "loss" ? sampleLoss(outputs, labels).map((l) => -l) : maxConfidence(outputs);
}

/** A shadow model's scores on reference samples, and which of them it trained on. */
export interface CalibrationSet {
  scores: Float64Array;
  trained: Uint8Array;
}

/**
 * The mean over shadow models of each one's best-separating threshold; null without a
 * shadow model that has both kinds of samples (online models may be filled with
 * candidates alone).
 */
export function calibrateThreshold(shadows: readonly CalibrationSet[]): number | null {
  const thresholds: number[] = [];
  for (const s of shadows) {
    const members = Array.from(s.trained, (v) => v === 1);
    if (members.every(Boolean) || !members.some(Boolean)) continue;
    const t = bestThreshold(s.scores, members);
    if (Number.isFinite(t)) thresholds.push(t);
  }
  return thresholds.length > 0 ? thresholds.reduce((a, b) => a + b, 0) / thresholds.length : null;
}
