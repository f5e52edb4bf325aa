/**
 * The RDP accountant's numerics in log space, where probabilities underflow: log-sum-exp,
 * and sums of signed terms. (log erfc and the normal CDF are in src/normal.ts.)
 */

/** log(eˣ + eʸ) without overflow. */
export function logAdd(x: number, y: number): number {
  if (x === Number.NEGATIVE_INFINITY) return y;
  if (y === Number.NEGATIVE_INFINITY) return x;
  const hi = Math.max(x, y);
  return hi + Math.log1p(Math.exp(Math.min(x, y) - hi));
}

/** A running sum of signed terms given as (sign, log |term|), for series whose terms alternate. */
export class SignedLogSum {
  private positive = Number.NEGATIVE_INFINITY;
  private negative = Number.NEGATIVE_INFINITY;

  add(sign: number, logAbs: number): void {
    if (sign > 0) this.positive = logAdd(this.positive, logAbs);
    else if (sign < 0) this.negative = logAdd(this.negative, logAbs);
  }

  /** log of the sum, which must be positive (rounding below zero gives −∞). */
  log(): number {
    if (this.negative === Number.NEGATIVE_INFINITY) return this.positive;
    if (this.negative >= this.positive) return Number.NEGATIVE_INFINITY;
    return this.positive + Math.log1p(-Math.exp(this.negative - this.positive));
  }
}
