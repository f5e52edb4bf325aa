/**
 * The standard normal distribution in double precision, shared by certification (Φ⁻¹ for
 * radii), the guard's Shapiro–Wilk test and the DP accountants (Φ and log erfc far in the
 * tails). erfc is erf's Taylor series near 0 and, for x ≥ 2, erfc's continued fraction
 * (Abramowitz & Stegun 7.1.14) by the modified Lentz method, kept in log form so that
 * log erfc(x) stays finite far beyond the x ≈ 27 where erfc(x) underflows. Also ln Γ, which
 * the binomial, beta and gamma tails of certification, drift and watermark tests build on.
 */

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

/** 1 − Φ(z), computed without cancellation for large z. */
export function normalUpperTail(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/**
 * Φ⁻¹(p) by Acklam's rational approximation (relative error below 1.2e-9), refined with one
 * Halley step on Φ, which brings it to double precision.
 */
export function normalQuantile(p: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`normalQuantile needs 0 ≤ p ≤ 1, got ${p}`);
  if (p === 0) return Number.NEGATIVE_INFINITY;
  if (p === 1) return Number.POSITIVE_INFINITY;
  const lowTail = 0.02425;
  let x: number;
  if (p < lowTail || p > 1 - lowTail) {
    const q = Math.sqrt(-2 * Math.log(p < lowTail ? p : 1 - p));
    const tail =
      (((((-7.784894002430293e-3 * q - 3.223964580411365e-1) * q - 2.400758277161838) * q - 2.549732539343734) * q + 4.374664141464968) * q +
        2.938163982698783) /
      ((((7.784695709041462e-3 * q + 3.224671290700398e-1) * q + 2.445134137142996) * q + 3.754408661907416) * q + 1);
    x = p < lowTail ? tail : -tail;
  } else {
    const q = p - 0.5;
    const r = q * q;
    x =
      ((((((-3.969683028665376e1 * r + 2.209460984245205e2) * r - 2.759285104469687e2) * r + 1.38357751867269e2) * r - 3.066479806614716e1) * r +
        2.506628277459239) *
        q) /
      (((((-5.447609879822406e1 * r + 1.615858368580409e2) * r - 1.556989798598866e2) * r + 6.680131188771972e1) * r - 1.328068155288572e1) * r + 1);
  }
  const e = normalCdf(x) - p;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012,
  9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0: Lanczos (g = 7, 9 terms), about 1e-15 relative; reflection below 0.5. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const z = x - 1;
  let sum = LANCZOS[0];
  for (let i = 1; i < LANCZOS.length; i++) sum += LANCZOS[i] / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(sum);
}
