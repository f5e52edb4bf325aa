/** The server's aggregation rules by name (one file per paper). */
import { AegisError } from "../../../errors.js";
import { bulyan } from "./bulyan.js";
import { fedAvg } from "./fedavg.js";
import { krum, multiKrum } from "./krum.js";
import { median } from "./median.js";
import { normBound } from "./norm-bound.js";
import { trimmedMean } from "./trimmed-mean.js";
import type { Aggregator } from "./types.js";

export { bulyan, bulyanSelect, closestToMedianMean } from "./bulyan.js";
export { fedAvg, weightedMean } from "./fedavg.js";
export { krum, krumSelect, multiKrum, pairwiseSquaredDistances } from "./krum.js";
export { median } from "./median.js";
export { l2Norm, type NormBoundOptions, normBound } from "./norm-bound.js";
export { trimmedMean } from "./trimmed-mean.js";
export type { AggregationContext, Aggregator, Contribution } from "./types.js";

export const AGGREGATORS = ["fedavg", "median", "trimmed-mean", "krum", "multi-krum", "bulyan", "norm-bound"] as const;
export type AggregatorName = (typeof AGGREGATORS)[number];

const BY_NAME: Record<AggregatorName, () => Aggregator> = {
  fedavg: () => fedAvg,
  median: () => median,
  "trimmed-mean": () => trimmedMean,
  krum: () => krum,
  "multi-krum": () => multiKrum,
  bulyan: () => bulyan,
  "norm-bound": () => normBound(),
};

export function aggregatorByName(name: string): Aggregator {
  if (!(AGGREGATORS as readonly string[]).includes(name))
    throw new AegisError("BAD_OPTION", `unknown aggregator "${name}"; choose from ${AGGREGATORS.join(", ")}`);
  return BY_NAME[name as AggregatorName]();
}
