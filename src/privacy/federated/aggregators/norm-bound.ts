/**
 * Norm bounding with optional weak DP (Sun, Kairouz, Suresh and McMahan 2019, "Can You
 * Really Backdoor Federated Learning?"): every update is scaled down to an L2 norm of at most
 * M, the clipped updates are averaged as FedAvg does (weighted by examples), and Gaussian
 * noise N(0, σ²) may be added to the average. Deviation: the paper fixes M in advance; when
 * no M is given we take the median norm of the round's updates, which needs no tuning and
 * cannot be raised by fewer than half of the clients.
 */
import { AegisError } from "../../../errors.js";
import { weightedMean } from "./fedavg.js";
import type { Aggregator, Contribution } from "./types.js";

export interface NormBoundOptions {
  /** M, the largest L2 norm an update keeps (default: the round's median norm). */
  maxNorm?: number;
  /** σ of the Gaussian noise added to each coordinate of the average (default 0). */
  noise?: number;
}

export function l2Norm(v: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < v.length; i++) sum += v[i] * v[i];
  return Math.sqrt(sum);
}

export function normBound(options: NormBoundOptions = {}): Aggregator {
  if (options.maxNorm !== undefined && !(options.maxNorm > 0)) throw new AegisError("BAD_OPTION", `the norm bound must be positive, not ${options.maxNorm}`);
  const sigma = options.noise ?? 0;
  if (!(sigma >= 0)) throw new AegisError("BAD_OPTION", `the noise σ must be 0 or more, not ${sigma}`);
  return {
    name: "norm-bound",
    description: "norm bounding (Sun et al. 2019): clip each update to norm M (default the median norm), average, optional Gaussian noise",
    minClients: () => 1,
    aggregate(contributions, { normal }) {
      const norms = contributions.map((c) => l2Norm(c.delta));
      const bound = options.maxNorm ?? medianNorm(norms);
      const clipped: Contribution[] = contributions.map((c, k) => {
        const scale = norms[k] > bound ? bound / norms[k] : 1;
        return { examples: c.examples, delta: scale === 1 ? c.delta : Float32Array.from(c.delta, (v) => v * scale) };
      });
      const mean = weightedMean(clipped);
      if (sigma > 0) {
        if (!normal) throw new Error("norm bounding with noise needs a Gaussian source in the aggregation context");
        for (let i = 0; i < mean.length; i++) mean[i] += sigma * normal();
      }
      return mean;
    },
  };
}

function medianNorm(norms: readonly number[]): number {
  const sorted = [...norms].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
