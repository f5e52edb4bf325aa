/**
 * Robust aggregation on top of secure aggregation, in buckets. Bucketing is Karimireddy, He
 * and Jaggi 2022 (ICLR, "Byzantine-Robust Learning on Heterogeneous Datasets via
 * Bucketing"): shuffle the round's clients at random into B buckets, average each bucket,
 * and run the robust rule over the B bucket means. Velicheti, Xia and Koyejo 2021 ("Secure
 * Byzantine-Robust Distributed Learning via Clustering") observed that the averages can be
 * taken under secure aggregation: each bucket is one run of secure FedAvg (aggregator.ts),
 * so the server learns the B bucket sums and never one client's update.
 *
 * Robustness: an attacker can spoil at most its own bucket, so f attackers spoil at most
 * min(f, B) buckets, and the robust rule is told that f. The rule then needs enough buckets
 * for it (median: B ≥ 2f + 1); more buckets means smaller ones.
 *
 * The trade-off: the server learns B partial sums instead of one. A bucket of s clients
 * hides each member only among its s − 1 fellows, and only against fewer than t of them
 * colluding with the server; B = n/2 buckets of 2 leave each client's update known up to
 * one other client's. The shuffle is the server's own randomness, so a malicious server can
 * choose whom to bucket together (the semi-honest model of this secure aggregation assumes
 * it does not). Client-level DP with buckets is refused: DP-FedAvg's noise is calibrated to
 * one sum, and each bucket sum would need its own.
 */
import { createRng, type Rng } from "../../../data/index.js";
import { AegisError } from "../../../errors.js";
import type { Aggregator, Contribution } from "../aggregators/index.js";
import { type SecureAggregationOptions, secureFedAvg } from "./aggregator.js";
import { defaultThreshold } from "./session.js";

export interface BucketingRound {
  /** f: attackers the rule must tolerate among a round's clients. */
  byzantine: number;
  /** Clients per round. */
  perRound: number;
}

/** What one round's bucketing did: for the tests and reports; each mean is what the server unmasked. */
export interface BucketsReport {
  /** Indices into the round's contributions, one list per bucket. */
  members: number[][];
  /** Each bucket's FedAvg mean, decoded from its secure sum. */
  means: Float32Array[];
}

/** Secure aggregation needs two clients in a sum; a bucket of one would be that client's update. */
const SMALLEST_BUCKET = 2;

/**
 * `robust` over B bucket means, each from secure FedAvg over its bucket. Refuses B < 2,
 * buckets too small for secure aggregation (or for its threshold after the simulated
 * dropouts), and too few buckets for the rule to tolerate min(f, B) spoiled ones.
 */
export function secureBuckets(
  robust: Aggregator,
  buckets: number,
  round: BucketingRound,
  options: SecureAggregationOptions = {},
  onBuckets?: (report: BucketsReport) => void,
): Aggregator {
  requireBuckets(robust, buckets, round, options);
  const bucketMean = secureFedAvg(options);
  // The server's shuffle: a stream of its own, apart from secure aggregation's dropout draw.
  const shuffler = createRng((options.seed ?? 0) + 0x5eed);
  return {
    name: `${robust.name}+buckets`,
    description: `${robust.description}, over ${buckets} secure-aggregation buckets (Karimireddy et al. 2022)`,
    minClients: () => SMALLEST_BUCKET * buckets,
    aggregate(contributions, context) {
      const members = assignBuckets(contributions.length, buckets, shuffler);
      const means = members.map((bucket) =>
        bucketMean.aggregate(
          bucket.map((k) => contributions[k]),
          context,
        ),
      );
      onBuckets?.({ members, means });
      const bucketed: Contribution[] = means.map((delta, b) => ({ delta, examples: members[b].reduce((sum, k) => sum + contributions[k].examples, 0) }));
      return robust.aggregate(bucketed, { ...context, byzantine: Math.min(context.byzantine, buckets) });
    },
  };
}

/** n clients shuffled into B buckets whose sizes differ by at most one. */
export function assignBuckets(n: number, buckets: number, rng: Rng): number[][] {
  if (n < SMALLEST_BUCKET * buckets)
    throw new AegisError(
      "BAD_OPTION",
      `${buckets} buckets need at least ${SMALLEST_BUCKET * buckets} clients in a round, and this one has ${n}; use fewer --buckets`,
    );
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  return Array.from({ length: buckets }, (_, b) => order.filter((_, i) => i % buckets === b));
}

function requireBuckets(robust: Aggregator, buckets: number, round: BucketingRound, options: SecureAggregationOptions): void {
  if (!Number.isInteger(buckets) || buckets < 2)
    throw new AegisError("BAD_OPTION", `--buckets must be an integer of at least 2 (one bucket is plain secure FedAvg), not ${buckets}`);
  const smallest = Math.floor(round.perRound / buckets);
  if (smallest < SMALLEST_BUCKET)
    throw new AegisError(
      "BAD_OPTION",
      `${round.perRound} clients per round make buckets of ${smallest}, and secure aggregation needs at least ${SMALLEST_BUCKET} in each; use at most ${Math.floor(round.perRound / SMALLEST_BUCKET)} --buckets`,
    );
  const threshold = options.thresholdShare === undefined ? defaultThreshold(smallest) : Math.max(1, Math.ceil(options.thresholdShare * smallest));
  const answering = smallest - Math.floor((options.dropout ?? 0) * smallest);
  if (answering < threshold)
    throw new AegisError(
      "BAD_OPTION",
      `buckets of ${smallest} clients keep ${answering} after the dropouts, fewer than the ${threshold} secure aggregation needs to unmask; use fewer --buckets or a lower --secagg-dropout`,
    );
  const spoiled = Math.min(round.byzantine, buckets);
  if (buckets < robust.minClients(spoiled))
    throw new AegisError(
      "BAD_OPTION",
      `${robust.name} must tolerate ${spoiled} spoiled buckets (f = ${round.byzantine} attackers, at most one bucket each) and needs ${robust.minClients(spoiled)} buckets for it; use more --buckets or another aggregator`,
    );
}
