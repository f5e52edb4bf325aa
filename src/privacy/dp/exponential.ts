/**
 * The exponential mechanism — McSherry & Talwar, "Mechanism Design via Differential Privacy",
 * FOCS 2007: choose candidate i with probability ∝ wᵢ·exp(ε·uᵢ/(2Δu)), where the utility u
 * moves by at most Δu when one record changes; ε-DP. Weights wᵢ (e.g. interval lengths for a
 * continuous range) must not depend on the data. Sampled by the Gumbel-max trick in log
 * space, so large ε·u does not overflow.
 */
import { AegisError } from "../../errors.js";
import { checkEpsilon } from "./laplace.js";
import type { SecureRandom } from "./secure-random.js";

export function exponentialMechanism(
  utilities: ArrayLike<number>,
  utilitySensitivity: number,
  epsilon: number,
  random: SecureRandom,
  logWeights?: ArrayLike<number>,
): number {
  checkEpsilon(epsilon);
  if (utilities.length === 0) throw new AegisError("BAD_OPTION", "the exponential mechanism needs at least one candidate");
  let best = -1;
  let bestKey = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < utilities.length; i++) {
    const logWeight = logWeights ? logWeights[i] : 0;
    if (logWeight === Number.NEGATIVE_INFINITY) continue;
    // Gumbel-max: argmax of log-weight + Gumbel noise is a sample from the softmax.
    const gumbel = -Math.log(-Math.log(1 - random.uniform()));
    const key = logWeight + (epsilon * utilities[i]) / (2 * utilitySensitivity) + gumbel;
    if (key > bestKey) {
      bestKey = key;
      best = i;
    }
  }
  if (best < 0) throw new AegisError("BAD_OPTION", "every candidate of the exponential mechanism has weight 0");
  return best;
}

/**
 * The p-quantile of values clamped to [lower, upper] (Smith 2011's private median, as in
 * Google's DP libraries): the sorted values cut [lower, upper] into intervals; interval j
 * holds ranks j, with utility −|j − p·n| (sensitivity 1) and weight its length; the answer
 * is uniform within the chosen interval.
 */
export function dpQuantile(values: readonly number[], p: number, lower: number, upper: number, epsilon: number, random: SecureRandom): number {
  if (!(p >= 0 && p <= 1)) throw new AegisError("BAD_OPTION", `a quantile must be in [0, 1], not ${p}`);
  const sorted = values.map((v) => Math.min(upper, Math.max(lower, v))).sort((a, b) => a - b);
  const edges = [lower, ...sorted, upper];
  const target = p * sorted.length;
  const utilities = new Float64Array(edges.length - 1);
  const logWeights = new Float64Array(edges.length - 1);
  for (let j = 0; j < utilities.length; j++) {
    utilities[j] = -Math.abs(j - target);
    logWeights[j] = Math.log(edges[j + 1] - edges[j]);
  }
  const j = exponentialMechanism(utilities, 1, epsilon, random, logWeights);
  return edges[j] + (edges[j + 1] - edges[j]) * random.uniform();
}
