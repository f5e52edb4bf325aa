/**
 * Krum and Multi-Krum (Blanchard, El Mhamdi, Guerraoui and Stainer 2017, "Machine Learning
 * with Adversaries: Byzantine Tolerant Gradient Descent"). Each update is scored by the sum
 * of its squared distances to its n − f − 2 nearest neighbours; Krum returns the update with
 * the lowest score, Multi-Krum the plain mean of the m lowest (m = n − f by default, the
 * paper's choice that keeps every honest update when they cluster). Needs n ≥ 2f + 3 and f
 * up front: a wrong f is the rule's known weak spot (Flower issue #1481).
 */
import { AegisError } from "../../../errors.js";
import type { Aggregator, Contribution } from "./types.js";

/** Squared Euclidean distances between every pair, row-major n × n. */
export function pairwiseSquaredDistances(contributions: readonly Contribution[]): Float64Array {
  const n = contributions.length;
  const distances = new Float64Array(n * n);
  for (let a = 0; a < n; a++) {
    const u = contributions[a].delta;
    for (let b = a + 1; b < n; b++) {
      const v = contributions[b].delta;
      let sum = 0;
      for (let i = 0; i < u.length; i++) {
        const diff = u[i] - v[i];
        sum += diff * diff;
      }
      distances[a * n + b] = sum;
      distances[b * n + a] = sum;
    }
  }
  return distances;
}

/**
 * Krum scores of the `candidates` (indices into the n × n distance matrix), each against the
 * other candidates only, with f Byzantine among them.
 */
export function krumScores(distances: Float64Array, n: number, candidates: readonly number[], f: number): number[] {
  const neighbours = candidates.length - f - 2;
  return candidates.map((a) => {
    const row = candidates.filter((b) => b !== a).map((b) => distances[a * n + b]);
    row.sort((x, y) => x - y);
    return row.slice(0, neighbours).reduce((s, x) => s + x, 0);
  });
}

/** Indices of the m contributions with the lowest Krum scores, best first. */
export function krumSelect(contributions: readonly Contribution[], f: number, m: number): number[] {
  const n = contributions.length;
  requireKrumClients(n, f, "Krum");
  const candidates = contributions.map((_, i) => i);
  const scores = krumScores(pairwiseSquaredDistances(contributions), n, candidates, f);
  return candidates.sort((a, b) => scores[a] - scores[b] || a - b).slice(0, m);
}

export function requireKrumClients(n: number, f: number, rule: string): void {
  if (n < 2 * f + 3)
    throw new AegisError(
      "BAD_OPTION",
      `${rule} tolerates f = ${f} Byzantine clients only among at least ${2 * f + 3}, got ${n}; sample more clients or assume a smaller f`,
    );
}

function plainMean(contributions: readonly Contribution[], chosen: readonly number[]): Float32Array {
  const out = new Float64Array(contributions[0].delta.length);
  for (const k of chosen) {
    const delta = contributions[k].delta;
    for (let i = 0; i < out.length; i++) out[i] += delta[i];
  }
  return Float32Array.from(out, (v) => v / chosen.length);
}

export const krum: Aggregator = {
  name: "krum",
  description: "Krum (Blanchard et al. 2017): the one update closest to its n − f − 2 neighbours",
  minClients: (f) => 2 * f + 3,
  aggregate: (contributions, { byzantine }) => Float32Array.from(contributions[krumSelect(contributions, byzantine, 1)[0]].delta),
};

export const multiKrum: Aggregator = {
  name: "multi-krum",
  description: "Multi-Krum (Blanchard et al. 2017): the mean of the n − f updates with the best Krum scores",
  minClients: (f) => 2 * f + 3,
  aggregate(contributions, { byzantine }) {
    return plainMean(contributions, krumSelect(contributions, byzantine, contributions.length - byzantine));
  },
};
