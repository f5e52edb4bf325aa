/**
 * Exact statistics of binomial proportions, in double precision and without a dependency
 * (randomized smoothing's certificates and the DP membership audit's bound checks): the regularized incomplete beta function and its inverse (the beta
 * quantile, hence the Clopper–Pearson bounds, Clopper & Pearson 1934), the binomial tail,
 * and the standard normal CDF and quantile. Methods: Lanczos' log-gamma (g = 7, the
 * coefficients published by Godfrey), the incomplete beta by its continued fraction
 * evaluated with Lentz's method, the incomplete gamma by its series or continued fraction
 * (for erfc), the beta quantile by bisection to full precision, and the normal quantile by
 * Abramowitz & Stegun 26.2.23 refined with Newton steps on Φ.
 */
import { AegisError } from "./errors.js";
import { logGamma } from "./normal.js";

const TINY = 1e-300;
const EPS = 1e-16;

/** Continued fraction of I_x(a, b) (converges fast for x < (a + 1) / (a + b + 2)), by the modified Lentz method. */
function betaFraction(x: number, a: number, b: number): number {
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 100000; m++) {
    const m2 = 2 * m;
    // Even step: m(b − m)x / ((a + 2m − 1)(a + 2m)).
    let term = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + term * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + term / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    // Odd step: −(a + m)(a + b + m)x / ((a + 2m)(a + 2m + 1)).
    term = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + term * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + term / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPS) return h;
  }
  throw new Error(`incomplete beta continued fraction did not converge for x=${x}, a=${a}, b=${b}`);
}

/** The regularized incomplete beta function I_x(a, b), the CDF of Beta(a, b) at x. */
export function regularizedBeta(x: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`regularizedBeta needs a, b > 0, got ${a}, ${b}`);
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const logFront = a * Math.log(x) + b * Math.log1p(-x) - (logGamma(a) + logGamma(b) - logGamma(a + b));
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(logFront) * betaFraction(x, a, b)) / a;
  return 1 - (Math.exp(logFront) * betaFraction(1 - x, b, a)) / b;
}

/** The p-quantile of Beta(a, b): the x with I_x(a, b) = p, to full double precision. */
export function betaQuantile(p: number, a: number, b: number): number {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`betaQuantile needs 0 ≤ p ≤ 1, got ${p}`);
  if (p === 0) return 0;
  if (p === 1) return 1;
  let lo = 0;
  let hi = 1;
  // I_x is increasing in x; halve until lo and hi are neighbouring doubles.
  for (let i = 0; i < 2000; i++) {
    const mid = lo + (hi - lo) / 2;
    if (mid <= lo || mid >= hi) break;
    if (regularizedBeta(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return lo + (hi - lo) / 2;
}

/**
 * One-sided Clopper–Pearson lower confidence bound at level 1 − α on a binomial proportion
 * with k successes in n trials: the α-quantile of Beta(k, n − k + 1) (0 when k = 0).
 */
export function clopperPearsonLower(k: number, n: number, alpha: number): number {
  checkCounts(k, n);
  if (!(alpha > 0 && alpha < 1)) throw new AegisError("BAD_OPTION", `alpha must be in (0, 1), not ${alpha}`);
  return k === 0 ? 0 : betaQuantile(alpha, k, n - k + 1);
}

/** One-sided Clopper–Pearson upper bound: the (1 − α)-quantile of Beta(k + 1, n − k) (1 when k = n). */
export function clopperPearsonUpper(k: number, n: number, alpha: number): number {
  checkCounts(k, n);
  return k === n ? 1 : betaQuantile(1 - alpha, k + 1, n - k);
}

/** P(X ≥ k) for X ~ Binomial(n, p). */
export function binomialUpperTail(k: number, n: number, p: number): number {
  checkCounts(Math.max(0, Math.min(k, n)), n);
  if (k <= 0) return 1;
  if (k > n) return 0;
  return regularizedBeta(p, k, n - k + 1);
}

/** The two-sided exact binomial test of H₀: p = ½ (SciPy's binomtest), for k successes in n trials. */
export function binomialTestHalf(k: number, n: number): number {
  checkCounts(k, n);
  if (n === 0 || 2 * k === n) return 1;
  const extreme = Math.max(k, n - k);
  return Math.min(1, 2 * binomialUpperTail(extreme, n, 0.5));
}

function checkCounts(k: number, n: number): void {
  if (!(Number.isInteger(k) && Number.isInteger(n) && k >= 0 && k <= n)) throw new RangeError(`counts must satisfy 0 ≤ k ≤ n, got k=${k}, n=${n}`);
}

/** The t with P(T ≥ t) = alpha for Student's t on df degrees of freedom (0 < alpha < ½). */
export function studentUpperQuantile(alpha: number, df: number): number {
  // P(T ≥ t) = I_{df/(df+t²)}(df/2, 1/2) / 2 for t ≥ 0.
  const x = betaQuantile(2 * alpha, df / 2, 0.5);
  return Math.sqrt((df * (1 - x)) / x);
}

/** P(T ≥ t) for Student's t on df degrees of freedom. */
export function studentUpperTail(t: number, df: number): number {
  const tail = 0.5 * regularizedBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? tail : 1 - tail;
}
