/**
 * The robust outlier test Neural Cleanse uses (Wang et al. 2019, after Hampel 1974): the
 * median absolute deviation scaled by 1.4826 estimates a normal distribution's standard
 * deviation, and a value's anomaly index is its distance below the median in those units.
 * Indices above 2 (Wang et al.'s cut-off, a > 95% probability of being an outlier for one
 * value) mark the values that are unusually small; over many values at once, see
 * `familyWiseThreshold`.
 */
import { createRng } from "../../data/random.js";
import { AegisError } from "../../errors.js";
import { type ClassVerdict, rowsByClass } from "./types.js";

const CONSISTENCY = 1.4826;

export const median = (values: readonly number[]): number => {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** (median − v) / (1.4826·MAD) per value: positive below the median, large for small outliers. */
export function lowAnomalyIndices(values: readonly number[]): Float64Array {
  const m = median(values);
  const mad = CONSISTENCY * median(values.map((v) => Math.abs(v - m)));
  return Float64Array.from(values, (v) => (mad > 0 ? (m - v) / mad : v < m ? Number.POSITIVE_INFINITY : 0));
}

/**
 * The anomaly index that `n` values drawn from one normal distribution exceed, in at least
 * one of them, with probability `falseAlarmRate`: the cut-off for "is any of n groups an
 * outlier?" rather than "is this one?". Wang et al.'s fixed 2 is a per-value cut-off; taken
 * over 10 values it is exceeded by one of them in about a third of outlier-free samples
 * (the median and MAD come from the same few values). Seeded Monte Carlo, so it is the same
 * number on every run.
 */
export function familyWiseThreshold(n: number, falseAlarmRate: number, draws = 20_000): number {
  // One or two values cannot hold an outlier: their MAD is their own spread.
  if (n < 3) return Number.POSITIVE_INFINITY;
  const rng = createRng(n);
  const values = new Float64Array(n);
  const deviations = new Float64Array(n);
  const maxima = new Float64Array(draws);
  const middle = (s: Float64Array) => (n % 2 ? s[n >> 1] : (s[(n >> 1) - 1] + s[n >> 1]) / 2);
  for (let d = 0; d < draws; d++) {
    for (let i = 0; i < n; i++) values[i] = rng.normal();
    values.sort();
    const m = middle(values);
    for (let i = 0; i < n; i++) deviations[i] = Math.abs(values[i] - m);
    deviations.sort();
    // The largest index is the smallest value's (lowAnomalyIndices, without its allocations).
    maxima[d] = (m - values[0]) / (CONSISTENCY * middle(deviations));
  }
  maxima.sort();
  return maxima[Math.min(draws - 1, Math.ceil((1 - falseAlarmRate) * draws))];
}

/**
 * Each value's robust z-score within its class, (v − median)/(1.4826·MAD) over the rows of
 * the same label: what is unusual for a row of its class, not what differs between classes
 * (adding any row of the minority class moves a learner more than a row of the majority).
 */
export function robustZWithinClass(values: Float64Array, labels: readonly number[], numClasses: number): Float64Array {
  const z = new Float64Array(values.length);
  for (const rows of rowsByClass(labels, numClasses)) {
    if (rows.length === 0) continue;
    const m = median(rows.map((r) => values[r]));
    const mad = CONSISTENCY * median(rows.map((r) => Math.abs(values[r] - m)));
    for (const r of rows) z[r] = mad > 0 ? (values[r] - m) / mad : 0;
  }
  return z;
}

/**
 * Row verdicts of the defences that score rows one by one (RONI, influence): the ⌈ε·n⌉
 * highest-scoring rows are flagged, ε an upper bound on the poisoned share as in spectral
 * signatures (their scores are too skewed for a median-and-MAD cut-off: most rows have almost
 * none). They rank rows and name no class: where the flagged rows fall says nothing about
 * poison (on the clean fraud set, every one of influence's flagged rows is labelled
 * legitimate, the class with the longer tail of hard rows), so no class is called poisoned.
 */
export function topShareVerdicts(
  scores: Float64Array,
  labels: readonly number[],
  numClasses: number,
  epsilon: number,
): { flagged: boolean[]; classes: ClassVerdict[] } {
  if (!(epsilon > 0 && epsilon < 1)) throw new AegisError("BAD_OPTION", `--epsilon must be in (0, 1), not ${epsilon}`);
  const n = scores.length;
  const flagged = new Array<boolean>(n).fill(false);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  for (const r of order.slice(0, Math.ceil(epsilon * n))) flagged[r] = true;
  const classes = rowsByClass(labels, numClasses).map((rows, cls) => {
    const count = rows.filter((r) => flagged[r]).length;
    return {
      class: cls,
      rows: rows.length,
      suspicious: false,
      flagged: count,
      evidence: { flagged_share: rows.length > 0 ? count / rows.length : 0, median_score: rows.length > 0 ? median(rows.map((r) => scores[r])) : 0 },
    };
  });
  return { flagged, classes };
}
