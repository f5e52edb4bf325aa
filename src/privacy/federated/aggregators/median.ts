/**
 * Coordinate-wise median (Yin, Chen, Ramchandran and Bartlett 2018, "Byzantine-Robust
 * Distributed Learning: Towards Optimal Statistical Rates"): each coordinate of the
 * aggregate is the median of the clients' values of that coordinate. Tolerates any f < n/2
 * without knowing f; unweighted, as in the paper.
 */
import { medianOfSorted, reduceCoordinates } from "./coordinates.js";
import type { Aggregator } from "./types.js";

export const median: Aggregator = {
  name: "median",
  description: "coordinate-wise median (Yin et al. 2018); tolerates f < n/2",
  minClients: (f) => 2 * f + 1,
  aggregate: (contributions) => reduceCoordinates(contributions, medianOfSorted),
};
