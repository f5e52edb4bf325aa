/**
 * The RDP accountant's numerics, in double precision and in log space where probabilities
 * underflow: log-sum-exp with signs, log erfc for large arguments, and the PRV accountant's
 * normal CDF on the same erfc. (The defences have a normal CDF too, but they import privacy
 * for `harden --dp`, so importing theirs here would make a cycle.)
 * Methods: erf's Taylor series near 0, and for x ≥ 2 erfc's continued fraction
 * (Abramowitz & Stegun 7.1.14) evaluated by the modified Lentz method and kept in log form,
 * so log erfc(x) stays finite far beyond the x ≈ 27 where erfc(x) underflows.
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

const LOG_SQRT_PI = 0.5 * Math.log(Math.PI);

/** erfc(x) for any real x, to about 1e-15 relative (0 once e^(−x²) underflows, near x = 26.5). */
function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return 1 - erfSeries(x);
  if (x === Number.POSITIVE_INFINITY) return 0;
  return Math.exp(-x * x) / (Math.sqrt(Math.PI) * erfcFraction(x));
}

/** log erfc(x) for any real x, finite where erfc(x) itself underflows. */
export function logErfc(x: number): number {
  if (x >= 2 && x < Number.POSITIVE_INFINITY) return -x * x - LOG_SQRT_PI - Math.log(erfcFraction(x));
  return Math.log(erfc(x));
}

/** erf(x) = 2/√π Σₖ (−1)ᵏ x^(2k+1) / (k!(2k+1)), for |x| < 2. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let power = x;
  let sum = x;
  for (let k = 1; k < 200; k++) {
    power *= -x2 / k;
    const term = power / (2 * k + 1);
    sum += term;
    if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** The continued fraction x + (1/2)/(x + 1/(x + (3/2)/(x + …))), with erfc(x) = e^(−x²)/(√π · fraction). */
function erfcFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let k = 1; k < 1000; k++) {
    const a = k / 2;
    d = x + a * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = x + a / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = c * d;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return f;
}

/** Φ(x), accurate in relative terms in the lower tail (use Φ(−x) for 1 − Φ(x)). */
export function normalCdf(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}
