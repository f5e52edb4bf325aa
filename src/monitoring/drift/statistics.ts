/**
 * The two-sample tests of drift detection, in double precision.
 *
 * - Kolmogorov–Smirnov (Smirnov 1948): D = sup |F_ref − F_cur| over the pooled values,
 *   ties stepped over together; the p-value is Kolmogorov's limiting distribution at
 *   λ = √(nm/(n+m)) · D, as SciPy's ks_2samp(method="asymp") and alibi-detect's
 *   feature-wise KS do. With ties (integer features) the test is conservative.
 * - Kolmogorov's survival function Q(λ) = 2 Σₖ (−1)^(k−1) e^(−2k²λ²), which converges fast
 *   for λ ≥ 1; below that the Jacobi theta form 1 − √(2π)/λ Σₖ e^(−(2k−1)²π²/(8λ²)) does.
 * - Pearson's chi-square test of homogeneity on a 2 × C table of counts (reference,
 *   current), C − 1 degrees of freedom after categories empty in both are dropped, as
 *   SciPy's chi2_contingency(correction=False); its survival function is the regularised
 *   upper incomplete gamma Q(k/2, x/2): the series of P below a + 1, Legendre's continued
 *   fraction (modified Lentz) above (Numerical Recipes §6.2).
 */
import { logGamma } from "../../normal.js";

/** Q(λ) = P(K > λ) for Kolmogorov's distribution K; 1 for λ ≤ 0. */
export function kolmogorovSurvival(lambda: number): number {
  if (!(lambda > 0)) return 1;
  if (lambda < 1) {
    // P(K ≤ λ) = √(2π)/λ Σ e^(−(2k−1)²π²/(8λ²)): terms fall off like e^(−k²) in units of π²/λ².
    const c = (Math.PI * Math.PI) / (8 * lambda * lambda);
    let sum = 0;
    for (let k = 1; k < 100; k++) {
      const term = Math.exp(-(2 * k - 1) * (2 * k - 1) * c);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    return 1 - (Math.sqrt(2 * Math.PI) / lambda) * sum;
  }
  let sum = 0;
  for (let k = 1; k < 100; k++) {
    const term = Math.exp(-2 * k * k * lambda * lambda);
    sum += k % 2 === 1 ? term : -term;
    if (term < 1e-17 * Math.abs(sum)) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

export interface TestResult {
  statistic: number;
  pValue: number;
}

/** The two-sample KS statistic and asymptotic p-value; both samples must already be sorted ascending. */
export function ksTwoSample(reference: ArrayLike<number>, current: ArrayLike<number>): TestResult {
  const n = reference.length;
  const m = current.length;
  if (n === 0 || m === 0) return { statistic: 0, pValue: 1 };
  let i = 0;
  let j = 0;
  let d = 0;
  while (i < n && j < m) {
    const v = Math.min(reference[i], current[j]);
    while (i < n && reference[i] === v) i++;
    while (j < m && current[j] === v) j++;
    d = Math.max(d, Math.abs(i / n - j / m));
  }
  return { statistic: d, pValue: kolmogorovSurvival(Math.sqrt((n * m) / (n + m)) * d) };
}

/** The regularised upper incomplete gamma function Q(a, x) = Γ(a, x)/Γ(a). */
export function upperGammaRegularised(a: number, x: number): number {
  if (!(x > 0)) return 1;
  const logPrefix = a * Math.log(x) - x - logGamma(a);
  if (x < a + 1) {
    // P(a, x) = e^(−x) x^a / Γ(a + 1) · Σ xⁿ / ((a+1)…(a+n)).
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10000; n++) {
      term *= x / (a + n);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    return Math.max(0, 1 - sum * Math.exp(logPrefix));
  }
  // Γ(a, x) e^x x^(−a) = 1/(x + 1 − a − 1·(1 − a)/(x + 3 − a − 2·(2 − a)/(x + 5 − a − …))).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let f = d;
  for (let n = 1; n < 10000; n++) {
    const an = -n * (n - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const step = d * c;
    f *= step;
    if (Math.abs(step - 1) < 1e-16) break;
  }
  return Math.exp(logPrefix) * f;
}

/** P(χ²ₖ > x). */
export function chiSquareSurvival(x: number, dof: number): number {
  return upperGammaRegularised(dof / 2, x / 2);
}

export interface ChiSquareResult extends TestResult {
  dof: number;
}

/** Pearson's test that two count vectors over the same categories come from one distribution. */
export function chiSquareHomogeneity(reference: ArrayLike<number>, current: ArrayLike<number>): ChiSquareResult {
  let refTotal = 0;
  let curTotal = 0;
  for (let c = 0; c < reference.length; c++) {
    refTotal += reference[c];
    curTotal += current[c];
  }
  const total = refTotal + curTotal;
  let statistic = 0;
  let used = 0;
  for (let c = 0; c < reference.length; c++) {
    const column = reference[c] + current[c];
    if (column === 0) continue;
    used++;
    const expectedRef = (column * refTotal) / total;
    const expectedCur = (column * curTotal) / total;
    statistic += (reference[c] - expectedRef) ** 2 / expectedRef + (current[c] - expectedCur) ** 2 / expectedCur;
  }
  const dof = used - 1;
  if (dof < 1 || refTotal === 0 || curTotal === 0) return { statistic: 0, dof: Math.max(dof, 0), pValue: 1 };
  return { statistic, dof, pValue: chiSquareSurvival(statistic, dof) };
}
