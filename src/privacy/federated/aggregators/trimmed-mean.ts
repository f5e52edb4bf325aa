/**
 * Coordinate-wise trimmed mean (Yin, Chen, Ramchandran and Bartlett 2018, "Byzantine-Robust
 * Distributed Learning: Towards Optimal Statistical Rates"): for each coordinate, drop the
 * β·n largest and β·n smallest values and average the rest. The paper needs β ≥ f/n; we
 * trim exactly f per side, the least that still removes every Byzantine value.
 */
import { AegisError } from "../../../errors.js";
import { meanOfRange, reduceCoordinates } from "./coordinates.js";
import type { Aggregator } from "./types.js";

export const trimmedMean: Aggregator = {
  name: "trimmed-mean",
  description: "coordinate-wise trimmed mean (Yin et al. 2018): drops the f largest and f smallest values of each coordinate",
  minClients: (f) => 2 * f + 1,
  aggregate(contributions, { byzantine: f }) {
    const n = contributions.length;
    if (n < 2 * f + 1) throw new AegisError("BAD_OPTION", `the trimmed mean drops ${f} values per side and needs at least ${2 * f + 1} clients, got ${n}`);
    return reduceCoordinates(contributions, (sorted) => meanOfRange(sorted, f, n - f));
  },
};
