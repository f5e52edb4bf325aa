/**
 * Shapiro–Wilk test of normality — Shapiro & Wilk, "An analysis of variance test for
 * normality (complete samples)", Biometrika 1965, computed with Royston's approximations:
 * "Approximating the Shapiro-Wilk W-test for non-normality", Statistics and Computing 1992,
 * and "Remark AS R94: A remark on Algorithm AS 181", Applied Statistics 1995. The weights a
 * come from the expected normal order statistics m (Blom scores), with polynomial
 * corrections in 1/√n for the two extreme weights; the p-value from a normalising
 * transformation of W (log(1 − W), with mean and deviation polynomials in n for n ≤ 11 and in
 * log n above); exact for n = 3. Valid for 3 ≤ n ≤ 5000, as the paper. PRADA
 * (prada.ts) uses W to tell a benign client's query distances from an extraction stream's.
 * Deviation: none in the formulas; samples with no spread (all equal) are refused rather
 * than given a meaningless W.
 */
import { AegisError } from "../../errors.js";
import { normalQuantile, normalUpperTail } from "../../normal.js";

export interface ShapiroWilkResult {
  /** The W statistic in (0, 1]; near 1 for normal samples. */
  w: number;
  /** Probability of a W this small under normality. */
  p: number;
}

export const SHAPIRO_WILK_MIN_N = 3;
export const SHAPIRO_WILK_MAX_N = 5000;

/** Royston 1992, coefficients of the polynomials in u = 1/√n for a_n and a_(n−1). */
const LAST_WEIGHT = [0, 0.221157, -0.147981, -2.07119, 4.434685, -2.706056];
const SECOND_LAST_WEIGHT = [0, 0.042981, -0.293762, -1.752461, 5.682633, -3.582633];
/** Royston 1992, n ≤ 11: γ, then mean and log-deviation of −log(γ − log(1 − W)), in n. */
const SMALL_GAMMA = [-2.273, 0.459];
const SMALL_MEAN = [0.544, -0.39978, 0.025054, -6.714e-4];
const SMALL_LOG_SD = [1.3822, -0.77857, 0.062767, -0.0020322];
/** Royston 1992, n ≥ 12: mean and log-deviation of log(1 − W), in log n. */
const LARGE_MEAN = [-1.5861, -0.31082, -0.083751, 0.0038915];
const LARGE_LOG_SD = [-0.4803, -0.082676, 0.0030302];

/** The test on a sample (any order); throws for n outside [3, 5000] or a sample with no spread. */
export function shapiroWilk(sample: ArrayLike<number>): ShapiroWilkResult {
  return shapiroWilkSorted(Float64Array.from(sample).sort());
}

/** The test on a sample already in ascending order (PRADA keeps its distances sorted). */
export function shapiroWilkSorted(x: Float64Array): ShapiroWilkResult {
  const n = x.length;
  if (n < SHAPIRO_WILK_MIN_N || n > SHAPIRO_WILK_MAX_N) {
    throw new AegisError("BAD_OPTION", `The Shapiro–Wilk test needs between 3 and 5000 values; it was given ${n}.`);
  }
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(x[i])) throw new AegisError("NON_FINITE", "The Shapiro–Wilk test was given a NaN or infinite value; drop it first.");
    if (i > 0 && x[i] < x[i - 1]) throw new RangeError("shapiroWilkSorted needs its values in ascending order");
  }
  if (x[n - 1] - x[0] < 1e-19 * Math.max(1, Math.abs(x[0]))) {
    throw new AegisError("BAD_DATA", "The Shapiro–Wilk test needs values that are not all equal.");
  }
  const a = cachedWeights(n);
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  let numerator = 0;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    numerator += a[i] * x[i];
    ss += (x[i] - mean) ** 2;
  }
  const w = Math.min(1, (numerator * numerator) / ss);
  return { w, p: pValue(w, n) };
}

// PRADA tests a sliding window of distances on every query, so n repeats: keep the weights
// of the last few sizes (each is n normal quantiles, the bulk of the test's cost).
const weightCache = new Map<number, Float64Array>();
const WEIGHT_CACHE_SIZE = 8;

function cachedWeights(n: number): Float64Array {
  let a = weightCache.get(n);
  if (a === undefined) {
    a = weights(n);
    if (weightCache.size >= WEIGHT_CACHE_SIZE) weightCache.delete(weightCache.keys().next().value as number);
    weightCache.set(n, a);
  }
  return a;
}

/** The weights a_1..a_n (antisymmetric: a_i = −a_(n+1−i)). */
function weights(n: number): Float64Array {
  const a = new Float64Array(n);
  if (n === 3) {
    a[0] = -Math.SQRT1_2;
    a[2] = Math.SQRT1_2;
    return a;
  }
  const m = new Float64Array(n);
  let sumM2 = 0;
  for (let i = 0; i < n; i++) {
    m[i] = normalQuantile((i + 1 - 0.375) / (n + 0.25));
    sumM2 += m[i] * m[i];
  }
  const u = 1 / Math.sqrt(n);
  const norm = Math.sqrt(sumM2);
  const last = polynomial(LAST_WEIGHT, u) + m[n - 1] / norm;
  // Royston corrects two weights at each end from n = 6 on, one below.
  const corrected = n > 5 ? 2 : 1;
  let phi: number;
  if (corrected === 2) {
    const secondLast = polynomial(SECOND_LAST_WEIGHT, u) + m[n - 2] / norm;
    phi = (sumM2 - 2 * m[n - 1] ** 2 - 2 * m[n - 2] ** 2) / (1 - 2 * last ** 2 - 2 * secondLast ** 2);
    a[n - 2] = secondLast;
    a[1] = -secondLast;
  } else {
    phi = (sumM2 - 2 * m[n - 1] ** 2) / (1 - 2 * last ** 2);
  }
  a[n - 1] = last;
  a[0] = -last;
  const scale = 1 / Math.sqrt(phi);
  for (let i = corrected; i < n - corrected; i++) a[i] = m[i] * scale;
  return a;
}

function pValue(w: number, n: number): number {
  if (n === 3) {
    // Exact: W has a known distribution for three values (Shapiro & Wilk 1965).
    return Math.max(0, Math.min(1, (6 / Math.PI) * (Math.asin(Math.sqrt(w)) - Math.asin(Math.sqrt(0.75)))));
  }
  const y = Math.log(1 - w);
  let z: number;
  if (n <= 11) {
    const gamma = polynomial(SMALL_GAMMA, n);
    // Beyond γ the transformation is undefined: W is far too small for normality.
    if (y >= gamma) return 0;
    z = (-Math.log(gamma - y) - polynomial(SMALL_MEAN, n)) / Math.exp(polynomial(SMALL_LOG_SD, n));
  } else {
    const logN = Math.log(n);
    z = (y - polynomial(LARGE_MEAN, logN)) / Math.exp(polynomial(LARGE_LOG_SD, logN));
  }
  return normalUpperTail(z);
}

function polynomial(coefficients: readonly number[], x: number): number {
  let value = 0;
  for (let i = coefficients.length - 1; i >= 0; i--) value = value * x + coefficients[i];
  return value;
}
