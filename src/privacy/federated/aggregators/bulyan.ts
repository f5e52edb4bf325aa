/**
 * Bulyan (El Mhamdi, Guerraoui and Rouault 2018, "The Hidden Vulnerability of Distributed
 * Learning in Byzantium"). Selection: apply Krum repeatedly, each time moving the chosen
 * update out of the candidates, until θ = n − 2f are selected. Aggregation: for each
 * coordinate, the mean of the β = θ − 2f selected values closest to their median. Needs
 * n ≥ 4f + 3. Distances are computed once and reused by every Krum pass.
 */
import { AegisError } from "../../../errors.js";
import { meanOfRange, medianOfSorted, reduceCoordinates } from "./coordinates.js";
import { krumScores, pairwiseSquaredDistances } from "./krum.js";
import type { Aggregator, Contribution } from "./types.js";

/** Indices of the θ = n − 2f updates Bulyan's repeated Krum selects, in selection order. */
export function bulyanSelect(contributions: readonly Contribution[], f: number): number[] {
  const n = contributions.length;
  if (n < 4 * f + 3)
    throw new AegisError(
      "BAD_OPTION",
      `Bulyan tolerates f = ${f} Byzantine clients only among at least ${4 * f + 3}, got ${n}; sample more clients or use multi-krum`,
    );
  const distances = pairwiseSquaredDistances(contributions);
  const remaining = contributions.map((_, i) => i);
  const selected: number[] = [];
  while (selected.length < n - 2 * f) {
    // Krum needs |R| ≥ 2f + 3 neighbours to score; past that point (possible only at the
    // paper's bound) the last candidates are scored against f = 0.
    const fHere = Math.max(0, Math.min(f, Math.floor((remaining.length - 3) / 2)));
    const scores = krumScores(distances, n, remaining, fHere);
    let best = 0;
    for (let k = 1; k < remaining.length; k++) if (scores[k] < scores[best]) best = k;
    selected.push(remaining[best]);
    remaining.splice(best, 1);
  }
  return selected;
}

/** Mean of the β values of a sorted column closest to its median (a contiguous window). */
export function closestToMedianMean(sorted: Float64Array, beta: number): number {
  const m = medianOfSorted(sorted);
  let start = 0;
  let width = Number.POSITIVE_INFINITY;
  for (let s = 0; s + beta <= sorted.length; s++) {
    const w = Math.max(m - sorted[s], sorted[s + beta - 1] - m);
    if (w < width) {
      width = w;
      start = s;
    }
  }
  return meanOfRange(sorted, start, start + beta);
}

export const bulyan: Aggregator = {
  name: "bulyan",
  description: "Bulyan (El Mhamdi et al. 2018): repeated Krum selects n − 2f updates, then a trimmed mean around the median per coordinate",
  minClients: (f) => 4 * f + 3,
  aggregate(contributions, { byzantine: f }) {
    const selected = bulyanSelect(contributions, f).map((k) => contributions[k]);
    const beta = selected.length - 2 * f;
    return reduceCoordinates(selected, (sorted) => closestToMedianMean(sorted, beta));
  },
};
