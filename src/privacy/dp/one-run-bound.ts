/**
 * The statistics of the one-run audit — Steinke, Nasr & Jagielski, "Privacy Auditing with
 * One (1) Training Run", NeurIPS 2023 (Theorem 3, Algorithm 2 of the arXiv version 2305.08846).
 *
 * m canaries are each included in training independently with probability ½. The auditor
 * guesses "in" or "out" for r of them and abstains on the rest; v guesses are right. If the
 * training run is (ε, δ)-DP, then
 *
 *   P[V ≥ v] ≤ β + α·2mδ,   β = P[Binomial(r, p) ≥ v],  p = e^ε/(1 + e^ε),
 *   α = max over i = 1..v of P[v − i ≤ Binomial(r, p) < v] / i,
 *
 * i.e. an ε-DP run guesses no better than randomised response with accuracy p, plus the δ
 * slack. The lower bound on ε at confidence c is the largest ε whose p-value is below 1 − c:
 * a run that is really (ε, δ)-DP produces a bound above ε with probability at most 1 − c.
 */
import { AegisError } from "../../errors.js";

/** log C(r, k) for k = 0..r. */
function logBinomials(r: number): Float64Array {
  const out = new Float64Array(r + 1);
  for (let k = 1; k <= r; k++) out[k] = out[k - 1] + Math.log((r - k + 1) / k);
  return out;
}

/** The probability mass function of Binomial(r, p), from log space so large r does not underflow to NaN. */
function binomialPmf(r: number, p: number, logC: Float64Array): Float64Array {
  const pmf = new Float64Array(r + 1);
  const logP = Math.log(p);
  const log1mP = Math.log1p(-p);
  for (let k = 0; k <= r; k++) pmf[k] = Math.exp(logC[k] + (k === 0 ? 0 : k * logP) + (k === r ? 0 : (r - k) * log1mP));
  return pmf;
}

export interface OneRunCounts {
  /** m: canaries, each included with probability ½. */
  canaries: number;
  /** r: guesses made (the rest abstain). */
  guesses: number;
  /** v: right guesses. */
  correct: number;
}

function checkCounts({ canaries: m, guesses: r, correct: v }: OneRunCounts): void {
  if (!(Number.isInteger(m) && Number.isInteger(r) && Number.isInteger(v) && 0 <= v && v <= r && r <= m))
    throw new AegisError("BAD_OPTION", `the audit needs whole numbers 0 ≤ correct ≤ guesses ≤ canaries, not ${v}, ${r}, ${m}`);
}

/** The p-value of v or more right guesses out of r, if the run were (ε, δ)-DP (Theorem 3). */
export function oneRunPValue(counts: OneRunCounts, epsilon: number, delta: number, logC = logBinomials(counts.guesses)): number {
  checkCounts(counts);
  const { canaries: m, guesses: r, correct: v } = counts;
  if (v === 0) return 1;
  const pmf = binomialPmf(r, 1 / (1 + Math.exp(-epsilon)), logC);
  let beta = 0;
  for (let k = v; k <= r; k++) beta += pmf[k];
  let alpha = 0;
  let band = 0;
  for (let i = 1; i <= v; i++) {
    band += pmf[v - i];
    alpha = Math.max(alpha, band / i);
  }
  return Math.min(1, beta + alpha * 2 * m * delta);
}

/**
 * The empirical lower bound on ε at `confidence`: the largest ε (to 10⁻⁶) whose p-value is
 * below 1 − confidence, 0 when even ε = 0 explains the guesses. The p-value grows with ε,
 * so bisection finds it.
 */
export function oneRunEpsilonLowerBound(counts: OneRunCounts, delta: number, confidence: number): number {
  checkCounts(counts);
  if (!(confidence > 0 && confidence < 1)) throw new AegisError("BAD_OPTION", `the confidence must be in (0, 1), not ${confidence}`);
  if (!(delta >= 0 && delta < 1)) throw new AegisError("BAD_OPTION", `δ must be in [0, 1), not ${delta}`);
  const level = 1 - confidence;
  const logC = logBinomials(counts.guesses);
  const pValue = (epsilon: number) => oneRunPValue(counts, epsilon, delta, logC);
  if (pValue(0) >= level) return 0;
  let low = 0;
  let high = 1;
  while (pValue(high) < level) {
    low = high;
    high *= 2;
    if (high > 1e3) return Number.POSITIVE_INFINITY;
  }
  while (high - low > 1e-6) {
    const mid = (low + high) / 2;
    if (pValue(mid) < level) low = mid;
    else high = mid;
  }
  return low;
}

/**
 * The guesses of the one-run audit from membership scores (larger for "in"): "in" for the
 * `positives` highest scores, "out" for the `negatives` lowest, abstain on the rest; and how
 * many are right given who was included.
 */
export function scoreGuesses(scores: ArrayLike<number>, included: ArrayLike<boolean>, positives: number, negatives: number): OneRunCounts {
  const m = scores.length;
  if (positives + negatives > m) throw new AegisError("BAD_OPTION", `${positives} + ${negatives} guesses exceed the ${m} canaries`);
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  let correct = 0;
  for (let i = 0; i < positives; i++) if (included[order[i]]) correct++;
  for (let i = m - negatives; i < m; i++) if (!included[order[i]]) correct++;
  return { canaries: m, guesses: positives + negatives, correct };
}
