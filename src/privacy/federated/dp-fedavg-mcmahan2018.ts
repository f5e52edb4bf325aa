/**
 * Client-level differential privacy: DP-FedAvg (McMahan, Ramage, Talwar and Zhang 2018,
 * "Learning Differentially Private Recurrent Language Models"). Each round samples every
 * client independently with probability q; the server clips each sampled client's update to
 * L2 norm S, sums, divides by the fixed denominator qN (the paper's unbiased estimator with
 * equal weights, so one client moves the average by at most S/(qN) whether or not it is
 * sampled) and adds N(0, (zS/(qN))²) to every coordinate. That is the Poisson-subsampled
 * Gaussian mechanism with noise multiplier z, so the RDP accountant of DP-SGD (../dp) gives
 * ε per client at δ after T rounds. The clip runs on the server, so an attacker cannot skip
 * it: a client's effect on the model is bounded by S/(qN) per round whatever it sends.
 * Deviation: the paper weights clients by capped example counts; we weight them equally,
 * which keeps the sensitivity S/(qN) without a weight cap to tune.
 */
import { AegisError } from "../../errors.js";
import { epsilonSpent, noiseMultiplierFor, type PrivacySpent } from "../dp/index.js";
import { l2Norm } from "./aggregators/norm-bound.js";
import type { Aggregator } from "./aggregators/types.js";

export interface DpFedAvgOptions {
  /** S, the largest L2 norm a client's update keeps. */
  clip: number;
  /** z: the noise's standard deviation is zS/(qN). */
  noiseMultiplier: number;
  /** qN, the expected clients per round: the fixed denominator of the average. */
  expectedClients: number;
  /** The length of the parameter vector (a round that samples nobody still releases noise). */
  dimension: number;
  /** Called after every aggregation with how many of the round's updates were clipped. */
  onAggregation?: (report: { clients: number; clipped: number }) => void;
}

/** The server's rule: clip to S, sum, divide by qN, add Gaussian noise of σ = zS/(qN). */
export function dpFedAvg(options: DpFedAvgOptions): Aggregator {
  checkDpFedAvg(options);
  const { clip, dimension } = options;
  return {
    name: "dp-fedavg",
    description: "DP-FedAvg (McMahan et al. 2018): clip each update to L2 norm S, sum, divide by qN, add Gaussian noise of σ = zS/(qN)",
    minClients: () => 0,
    aggregate(contributions, { normal }) {
      const sum = new Float64Array(dimension);
      let clipped = 0;
      for (const { delta } of contributions) {
        if (delta.length !== dimension) throw new Error(`a client update has ${delta.length} values, and the model ${dimension}`);
        const scale = clipScale(delta, clip);
        if (scale < 1) clipped++;
        for (let i = 0; i < dimension; i++) sum[i] += delta[i] * scale;
      }
      options.onAggregation?.({ clients: contributions.length, clipped });
      return noisyAverage(sum, options, normal);
    },
  };
}

/** The factor that brings `delta` to L2 norm at most S (1 when it already is). */
export function clipScale(delta: Float32Array, clip: number): number {
  const norm = l2Norm(delta);
  return norm > clip ? clip / norm : 1;
}

/**
 * DP-FedAvg's release from the sum of clipped updates: sum/(qN) + N(0, (zS/(qN))²) per
 * coordinate. Shared by the server-side clip above and by secure aggregation, where each
 * client clips its own update and the server only ever holds the unmasked sum.
 */
export function noisyAverage(
  sum: ArrayLike<number>,
  settings: Pick<DpFedAvgOptions, "clip" | "noiseMultiplier" | "expectedClients">,
  normal: (() => number) | undefined,
): Float32Array {
  const sigma = (settings.noiseMultiplier * settings.clip) / settings.expectedClients;
  if (sigma > 0 && !normal) throw new Error("DP-FedAvg needs a Gaussian source in the aggregation context");
  const step = new Float32Array(sum.length);
  for (let i = 0; i < sum.length; i++) step[i] = sum[i] / settings.expectedClients + (sigma > 0 ? sigma * (normal as () => number)() : 0);
  return step;
}

/** Refuses a clip, z or qN DP-FedAvg cannot use, with a sentence that says which. */
export function checkDpFedAvg(options: Pick<DpFedAvgOptions, "clip" | "noiseMultiplier" | "expectedClients">): void {
  const { clip, noiseMultiplier, expectedClients } = options;
  if (!(clip > 0 && Number.isFinite(clip))) throw new AegisError("BAD_OPTION", `the DP clip S must be a positive number, not ${clip}`);
  if (!(noiseMultiplier >= 0 && Number.isFinite(noiseMultiplier)))
    throw new AegisError("BAD_OPTION", `the noise multiplier z must be a number ≥ 0, not ${noiseMultiplier}`);
  if (!(expectedClients > 0)) throw new AegisError("BAD_OPTION", `the expected clients per round qN must be positive, not ${expectedClients}`);
}

/**
 * DP-FedAvg replaces the aggregation rule, so only FedAvg combines with it: its noise is
 * calibrated to the sensitivity S/(qN) of a clipped fixed-denominator sum, which a selection
 * rule such as Krum or the median lacks (one client can change which update is chosen).
 */
export function requireDpCompatible(aggregator: string): void {
  if (aggregator !== "fedavg")
    throw new AegisError(
      "BAD_OPTION",
      `--dp runs DP-FedAvg, whose noise is calibrated to a clipped sum; ${aggregator} has no such sensitivity bound, so use --aggregator fedavg with --dp (its clip bounds each client's effect), or run ${aggregator} without --dp`,
    );
}

export interface ClientLevelPrivacy {
  /** q, the probability that a round samples a given client. */
  samplingRate: number;
  noiseMultiplier: number;
  rounds: number;
  /** δ per client. */
  delta: number;
}

/** ε per client at δ after the rounds, from the RDP accountant of the subsampled Gaussian. */
export function dpFedAvgEpsilon(p: ClientLevelPrivacy): PrivacySpent {
  return epsilonSpent([{ noiseMultiplier: p.noiseMultiplier, samplingRate: p.samplingRate, steps: p.rounds }], p.delta);
}

/** The smallest z (to 10⁻³ relative) that spends at most `targetEpsilon` per client over the rounds. */
export function dpFedAvgNoiseFor(p: Omit<ClientLevelPrivacy, "noiseMultiplier"> & { targetEpsilon: number }): number {
  return noiseMultiplierFor({ targetEpsilon: p.targetEpsilon, delta: p.delta, samplingRate: p.samplingRate, steps: p.rounds });
}

/** The default client-level δ: below 1/N for any federation of fewer than 100,000 clients. */
export const DP_FEDAVG_DELTA = 1e-5;
