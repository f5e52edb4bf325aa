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
 * pull on each coordinate to clip·w_k / Σ w.
 */
import { createRng } from "../../../data/index.js";
import { AegisError } from "../../../errors.js";
import type { Aggregator, Contribution } from "../aggregators/index.js";
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
      `${name} needs each client's individual update, and secure aggregation shows the server only their sum; use --aggregator fedavg with --secure-aggregation (its clip bounds each client's influence), or run ${name} without secure aggregation`,
    );
  }
  return secureFedAvg(options);
}

export function secureFedAvg(options: SecureAggregationOptions = {}): Aggregator {
  const clip = options.clip ?? SECURE_AGGREGATION_DEFAULTS.clip;
  const dropout = options.dropout ?? SECURE_AGGREGATION_DEFAULTS.dropout;
  if (!(dropout >= 0 && dropout < 1)) throw new AegisError("BAD_OPTION", `the secure-aggregation dropout must be in [0, 1), not ${dropout}`);
  const share = options.thresholdShare;
  if (share !== undefined && !(share > 0 && share <= 1))
    throw new AegisError("BAD_OPTION", `the secure-aggregation threshold must be a share in (0, 1], not ${share}`);
  const rng = createRng(options.seed ?? 0);
  let session = 0;
  return {
    name: "fedavg+secagg",
    description: "FedAvg under secure aggregation (Bonawitz et al. 2017): the server sees only the clipped, quantised sum",
    minClients: () => 1,
    aggregate(contributions) {
      const n = contributions.length;
      const fixedPoint = fixedPointFor(n, clip);
      const unit = Math.max(...contributions.map((c) => c.examples), 1);
      let clipped = 0;
      const inputs = contributions.map((c) => {
        const encoded = encodeUpdate(c, unit, fixedPoint);
        clipped += encoded.clipped;
        return encoded.field;
      });
      const threshold = share === undefined ? undefined : Math.max(1, Math.ceil(share * n));
      session++;
      const dropped = rng.shuffle(Array.from({ length: n }, (_, i) => i + 1)).slice(0, Math.floor(dropout * n));
      const result = secureSum(inputs, { threshold, session: `fedavg round ${session}`, dropouts: { beforeInput: dropped } });
      const mean = decodeMean(result.sum, fixedPoint);
      options.onAggregation?.({
        cost: result.cost,
        threshold: result.threshold,
        survivors: result.survivors.length,
        clipped,
        quantisationError: sumError(fixedPoint),
      });
      return mean;
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

/** FedAvg's step from the secure sum of encoded updates: Σ w·Δ / Σ w. */
export function decodeMean(sum: Uint32Array, fixedPoint: FixedPoint): Float32Array {
  const decoded = dequantise(sum, fixedPoint);
  const d = decoded.length - 1;
  const totalWeight = decoded[d] / fixedPoint.clip;
  if (!(totalWeight > 0)) throw new AegisError("BAD_DATA", "the clients of this round hold no examples; nothing to average");
  return Float32Array.from(decoded.subarray(0, d), (v) => v / totalWeight);
}
