/**
 * Projection of one sample onto tabular constraints: immutable features keep their
 * original value, bounds clamp, integer features round, and a one-hot group keeps only
 * its largest entry. Applied after the Lp-ball projection of each iterate, so a rounded
 * feature may leave the ball by less than one unit: feasibility comes first, as a real
 * transaction must be valid before it can be adversarial. With `relaxed`, only the
 * continuous part applies (immutable, bounds): iterative attacks walk a relaxed iterate and
 * round a copy, since rounding every small step would pin integer and one-hot features.
 */
import type { FeatureConstraints } from "./types.js";

export function projectFeasible(
  adv: Float32Array,
  original: Float32Array | ArrayLike<number>,
  start: number,
  row: number,
  c: FeatureConstraints | undefined,
  relaxed = false,
): void {
  if (!c) return;
  if (c.immutable) for (const j of c.immutable) adv[start + j] = original[start + j];
  if (c.lower) for (let j = 0; j < row; j++) adv[start + j] = Math.max(c.lower[j], adv[start + j]);
  if (c.upper) for (let j = 0; j < row; j++) adv[start + j] = Math.min(c.upper[j], adv[start + j]);
  if (relaxed) return;
  if (c.integer) for (const j of c.integer) adv[start + j] = Math.round(adv[start + j]);
  if (c.oneHot) {
    for (const group of c.oneHot) {
      let best = group[0];
      for (const j of group) if (adv[start + j] > adv[start + best]) best = j;
      for (const j of group) adv[start + j] = j === best ? 1 : 0;
    }
  }
}

/** Whether gradient steps may move feature j at all (immutable features are frozen). */
export function mutableMask(row: number, c: FeatureConstraints | undefined): Uint8Array {
  const mask = new Uint8Array(row).fill(1);
  if (c?.immutable) for (const j of c.immutable) mask[j] = 0;
  return mask;
}
