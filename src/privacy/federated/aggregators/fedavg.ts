/**
 * FedAvg's server step (McMahan et al. 2017, "Communication-Efficient Learning of Deep
 * Networks from Decentralized Data"): the mean of the clients' updates weighted by their
 * numbers of examples, n_k / n. Not robust: one client can move it anywhere.
 */
import type { Aggregator, Contribution } from "./types.js";

export function weightedMean(contributions: readonly Contribution[]): Float32Array {
  const d = contributions[0].delta.length;
  const total = contributions.reduce((sum, c) => sum + c.examples, 0);
  const sum = new Float64Array(d);
  for (const c of contributions) {
    const w = total > 0 ? c.examples / total : 1 / contributions.length;
    for (let i = 0; i < d; i++) sum[i] += w * c.delta[i];
  }
  return Float32Array.from(sum);
}

export const fedAvg: Aggregator = {
  name: "fedavg",
  description: "FedAvg (McMahan et al. 2017): mean weighted by examples; not robust",
  minClients: () => 1,
  aggregate: (contributions) => weightedMean(contributions),
};
