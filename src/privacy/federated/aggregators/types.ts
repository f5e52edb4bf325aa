/** What every aggregation rule sees and returns; each rule lives in its own file. */

export interface Contribution {
  /** A client's update (local − global), flat. */
  delta: Float32Array;
  /** Its training examples (weights FedAvg and norm bounding; the robust rules count clients, not examples). */
  examples: number;
  /**
   * Set on an attacker's update in the simulation: a bound the client is trusted to apply
   * (secure aggregation's clip) is one an attacker skips.
   */
  malicious?: boolean;
}

export interface AggregationContext {
  /**
   * f, the number of Byzantine clients the rule must tolerate among these contributions.
   * Krum, Bulyan and trimmed mean need it up front (Blanchard et al., El Mhamdi et al.,
   * Yin et al.); the median and FedAvg ignore it.
   */
  byzantine: number;
  /** Gaussian noise source for rules that add noise (norm bounding's weak DP). */
  normal?: () => number;
}

export interface Aggregator {
  readonly name: string;
  /** Paper and one line of what it does, for --help and reports. */
  readonly description: string;
  /** The fewest contributions the rule needs to tolerate f Byzantine ones. */
  minClients(byzantine: number): number;
  aggregate(contributions: readonly Contribution[], context: AggregationContext): Float32Array;
}
