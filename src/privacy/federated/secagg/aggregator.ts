/**
 * FedAvg under secure aggregation: the server computes McMahan et al.'s weighted mean
 * without seeing any client's update. Each client clips its update per coordinate to
 * [−clip, clip], scales it by its weight w_k = n_k / N (N: the largest client's examples,
 * which the server announces, so w_k ≤ 1), appends clip·w_k as one more coordinate, and
 * quantises the vector (quantise.ts; the scale leaves room for the round's n clients, so
 * the sum cannot overflow). Secure aggregation (session.ts) yields Σ w_k·Δ_k and clip·Σ w_k,
 * whose ratio is FedAvg's Σ n_k·Δ_k / Σ n_k up to the quantisation error, exactly as if in
 * the clear when nothing was clipped. The clip is the client's to apply: an attacker in the
 * simulation (a contribution marked malicious) skips it and sends any value the field holds.
 *
 * The robust rules (median, Krum, Bulyan, trimmed mean, norm bounding at the server) need
 * the individual updates that secure aggregation exists to hide, so they are refused under
 * it; what remains of robustness is the client-side clip, which bounds any one client's
 * pull on each coordinate to clip·w_k / Σ w, or buckets (buckets-karimireddy2022.ts).
 */
import { createRng } from "../../../data/index.js";
import { AegisError } from "../../../errors.js";
import type { Aggregator, Contribution } from "../aggregators/index.js";
import { checkDpFedAvg, clipScale, noisyAverage } from "../dp-fedavg-mcmahan2018.js";
import { dequantise, type FixedPoint, fixedPointFor, quantise, sumError } from "./quantise.js";
import { type SecureSumCost, secureSum } from "./session.js";

export interface SecureAggregationOptions {
  /** Per-coordinate clip of each client's update before quantisation (default 1). */
  clip?: number;
  /** t as a share of a round's clients (default: a majority, ⌊n/2⌋ + 1). */
  thresholdShare?: number;
  /**
   * Share of a round's clients that drop out after sharing their keys and before sending
   * their masked input (default 0), to exercise the protocol's recovery: the round's
   * average is then over the others, as FedAvg over the clients that answered.
   */
  dropout?: number;
  /** Seeds which clients drop out. */
  seed?: number;
  /** Called after each aggregation with its cost and what the quantisation cost in precision. */
  onAggregation?: (report: SecureAggregationReport) => void;
}

export interface SecureAggregationReport {
  cost: SecureSumCost;
  threshold: number;
  /** Clients whose updates are in the sum, of `cost.clients`. */
  survivors: number;
  /** Coordinates (over all clients) the clip changed. */
  clipped: number;
  /** The largest error quantisation can add to a coordinate of the weighted sum. */
  quantisationError: number;
}

export const SECURE_AGGREGATION_DEFAULTS = { clip: 1, dropout: 0 } as const;

/** The aggregator `name` under secure aggregation, or a refusal that says why it cannot be. */
export function secureAggregator(name: string, options: SecureAggregationOptions = {}): Aggregator {
  if (name !== "fedavg") {
    throw new AegisError(
      "BAD_OPTION",
      `${name} needs each client's individual update, and secure aggregation shows the server only their sum; use --aggregator fedavg with --secure-aggregation (its clip bounds each client's influence), add --buckets B to run ${name} over B secure bucket sums, or run ${name} without secure aggregation`,
    );
  }
  return secureFedAvg(options);
}

export function secureFedAvg(options: SecureAggregationOptions = {}): Aggregator {
  const clip = options.clip ?? SECURE_AGGREGATION_DEFAULTS.clip;
  return secureRule(
    "fedavg+secagg",
    "FedAvg under secure aggregation (Bonawitz et al. 2017): the server sees only the clipped, quantised sum",
    clip,
    options,
    (contributions, fixedPoint) => {
      const unit = Math.max(...contributions.map((c) => c.examples), 1);
      return contributions.map((c) => encodeUpdate(c, unit, fixedPoint));
    },
    (sum, fixedPoint) => decodeMean(sum, fixedPoint),
  );
}

/** DP-FedAvg's settings under secure aggregation: S is the clients' own L2 clip. */
export interface SecureDpSettings {
  clip: number;
  noiseMultiplier: number;
  /** qN, the fixed denominator. */
  expectedClients: number;
}

/**
 * DP-FedAvg (McMahan et al. 2018) on top of secure aggregation. The server cannot clip what
 * it cannot see, so each client scales its own update to L2 norm at most S before masking
 * (encodeClippedUpdate) and gives it weight 1; the server unmasks Σ clip_S(Δ_k), divides by
 * qN and adds N(0, (zS/(qN))²) itself (noisyAverage). The ε of DP-FedAvg holds for every
 * client that clips, against anyone who sees the model; the server, which holds the exact
 * sum before the noise, is not one of them (that would need noise added by the clients, as
 * in distributed DP). A client that skips its clip (the simulation's attackers) is bounded
 * only by the field, n·S per coordinate: robustness is lost, the honest clients' ε is not.
 */
export function secureDpFedAvg(dp: SecureDpSettings, options: SecureAggregationOptions = {}): Aggregator {
  checkDpFedAvg(dp);
  return secureRule(
    "dp-fedavg+secagg",
    "DP-FedAvg under secure aggregation: clients clip to L2 norm S before masking, the server adds Gaussian noise of σ = zS/(qN) to the unmasked sum",
    dp.clip,
    options,
    (contributions, fixedPoint) => contributions.map((c) => encodeClippedUpdate(c, fixedPoint)),
    (sum, fixedPoint, normal) => noisyAverage(decodeSum(sum, fixedPoint).sum, dp, normal),
  );
}

/** The secure-sum round both rules share: encode, mask and sum (with the simulated dropouts), decode. */
function secureRule(
  name: string,
  description: string,
  clip: number,
  options: SecureAggregationOptions,
  encode: (contributions: readonly Contribution[], fixedPoint: FixedPoint) => { field: Uint32Array; clipped: number }[],
  decode: (sum: Uint32Array, fixedPoint: FixedPoint, normal: (() => number) | undefined) => Float32Array,
): Aggregator {
  const dropout = options.dropout ?? SECURE_AGGREGATION_DEFAULTS.dropout;
  if (!(dropout >= 0 && dropout < 1)) throw new AegisError("BAD_OPTION", `the secure-aggregation dropout must be in [0, 1), not ${dropout}`);
  const share = options.thresholdShare;
  if (share !== undefined && !(share > 0 && share <= 1))
    throw new AegisError("BAD_OPTION", `the secure-aggregation threshold must be a share in (0, 1], not ${share}`);
  const rng = createRng(options.seed ?? 0);
  let session = 0;
  return {
    name,
    description,
    minClients: () => 1,
    aggregate(contributions, { normal }) {
      const n = contributions.length;
      const fixedPoint = fixedPointFor(n, clip);
      const encoded = encode(contributions, fixedPoint);
      const threshold = share === undefined ? undefined : Math.max(1, Math.ceil(share * n));
      session++;
      const dropped = rng.shuffle(Array.from({ length: n }, (_, i) => i + 1)).slice(0, Math.floor(dropout * n));
      const result = secureSum(
        encoded.map((e) => e.field),
        { threshold, session: `${name} round ${session}`, dropouts: { beforeInput: dropped } },
      );
      const step = decode(result.sum, fixedPoint, normal);
      options.onAggregation?.({
        cost: result.cost,
        threshold: result.threshold,
        survivors: result.survivors.length,
        clipped: encoded.reduce((sum, e) => sum + e.clipped, 0),
        quantisationError: sumError(fixedPoint),
      });
      return step;
    },
  };
}

/**
 * A client's update as secure FedAvg's input: [w·clip(Δ), clip·w] with w = examples / unit
 * ≤ 1 (unit: the round's largest client), so every coordinate stays within ±clip, in fixed
 * point. An attacker (a contribution marked malicious) skips the clip and sends whatever
 * the field holds: up to n·clip per coordinate, wrapping beyond.
 */
export function encodeUpdate(contribution: Contribution, unit: number, fixedPoint: FixedPoint): { field: Uint32Array; clipped: number } {
  const { clip } = fixedPoint;
  const w = contribution.examples / unit;
  const d = contribution.delta.length;
  const values = new Float64Array(d + 1);
  let clipped = 0;
  for (let i = 0; i < d; i++) {
    const v = contribution.delta[i];
    if (Math.abs(v) > clip) clipped++;
    values[i] = w * (contribution.malicious ? v : Math.max(-clip, Math.min(clip, v)));
  }
  values[d] = clip * w;
  const bound = contribution.malicious ? { ...fixedPoint, clip: fixedPoint.clients * clip } : fixedPoint;
  return { field: quantise(values, bound).field, clipped: contribution.malicious ? 0 : clipped };
}

/**
 * A client's update as DP-FedAvg's input under secure aggregation: Δ scaled to L2 norm at
 * most S (fixedPoint.clip), weight 1, so the last coordinate S counts the clients summed.
 * Every coordinate of a clipped update is within ±S, so the per-coordinate clip of
 * encodeUpdate changes nothing; `clipped` is 1 when the L2 clip shortened the update.
 */
export function encodeClippedUpdate(contribution: Contribution, fixedPoint: FixedPoint): { field: Uint32Array; clipped: number } {
  const scale = contribution.malicious ? 1 : clipScale(contribution.delta, fixedPoint.clip);
  const delta = scale < 1 ? Float32Array.from(contribution.delta, (v) => v * scale) : contribution.delta;
  return { field: encodeUpdate({ ...contribution, delta }, contribution.examples, fixedPoint).field, clipped: scale < 1 ? 1 : 0 };
}

/** The decoded sum of DP inputs (encodeClippedUpdate) and how many clients it holds. */
export function decodeSum(sum: Uint32Array, fixedPoint: FixedPoint): { sum: Float64Array; clients: number } {
  const decoded = dequantise(sum, fixedPoint);
  const d = decoded.length - 1;
  return { sum: decoded.subarray(0, d), clients: Math.round(decoded[d] / fixedPoint.clip) };
}

/** FedAvg's step from the secure sum of encoded updates: Σ w·Δ / Σ w. */
export function decodeMean(sum: Uint32Array, fixedPoint: FixedPoint): Float32Array {
  const decoded = dequantise(sum, fixedPoint);
  const d = decoded.length - 1;
  const totalWeight = decoded[d] / fixedPoint.clip;
  if (!(totalWeight > 0)) throw new AegisError("BAD_DATA", "the clients of this round hold no examples; nothing to average");
  return Float32Array.from(decoded.subarray(0, d), (v) => v / totalWeight);
}
