/**
 * Detection metrics for binary detectors (precision, recall, F1, false-positive rate) and
 * the threshold rule of the prompt-injection classifier: the highest-F1 threshold among
 * those whose false-positive rate on negatives stays within a budget (Neyman–Pearson style
 * operating point), chosen on held-out sources only.
 */

export interface BinaryMetrics {
  threshold: number;
  tp: number;
  fp: number;
  tn: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
  fpr: number;
}

export function binaryMetrics(scores: ArrayLike<number>, labels: ArrayLike<number>, threshold: number): BinaryMetrics {
  let tp = 0;
  let fp = 0;
  let tn = 0;
  let fn = 0;
  for (let i = 0; i < labels.length; i++) {
    const flagged = scores[i] >= threshold;
    if (labels[i] === 1) flagged ? tp++ : fn++;
    else flagged ? fp++ : tn++;
  }
  return { threshold, ...confusionRates({ tp, fp, tn, fn }) };
}

export interface ConfusionCounts {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Precision, recall, F1 and false-positive rate of a confusion matrix; 0 where a rate has no cases. */
export function confusionRates(counts: ConfusionCounts): ConfusionCounts & { precision: number; recall: number; f1: number; fpr: number } {
  const { tp, fp, tn, fn } = counts;
  const precision = tp + fp ? tp / (tp + fp) : 0;
  const recall = tp + fn ? tp / (tp + fn) : 0;
  return {
    tp,
    fp,
    tn,
    fn,
    precision,
    recall,
    f1: precision + recall ? (2 * precision * recall) / (precision + recall) : 0,
    fpr: fp + tn ? fp / (fp + tn) : 0,
  };
}

/** Best-F1 threshold whose false-positive rate is at most `maxFpr`; candidates are the observed scores. */
export function chooseThreshold(scores: ArrayLike<number>, labels: ArrayLike<number>, maxFpr: number): BinaryMetrics {
  const candidates = [...new Set(Array.from(scores))].sort((a, b) => a - b);
  let best = binaryMetrics(scores, labels, Number.POSITIVE_INFINITY);
  for (const t of candidates) {
    const m = binaryMetrics(scores, labels, t);
    if (m.fpr <= maxFpr && m.f1 > best.f1) best = m;
  }
  return best;
}

/** Share of rows flagged, per value of `groupOf` (e.g. recall per attack kind, FPR per benign kind). */
export function flaggedRateBy<T>(
  rows: readonly T[],
  scores: ArrayLike<number>,
  threshold: number,
  groupOf: (row: T) => string,
): Map<string, { flagged: number; total: number }> {
  const out = new Map<string, { flagged: number; total: number }>();
  rows.forEach((row, i) => {
    const key = groupOf(row);
    const entry = out.get(key) ?? { flagged: 0, total: 0 };
    entry.total++;
    if (scores[i] >= threshold) entry.flagged++;
    out.set(key, entry);
  });
  return out;
}
