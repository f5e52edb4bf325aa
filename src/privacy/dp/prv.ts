/**
 * The PRV accountant of Gopi, Lee & Wutschitz 2021 ("Numerical Composition of Differential
 * Privacy"): the privacy loss of T steps is the sum of T privacy loss random variables
 * (PRVs); discretise one step's PRV on a grid of mesh h, convolve T copies by FFT, and read
 * δ(ε) = E[(1 − e^(ε−Y))₊] off the result, which is tighter than any RDP conversion.
 *
 * One step of DP-SGD is the Poisson-subsampled Gaussian: P = N(0, σ²) and Q = (1 − q)P + q·N(1, σ²).
 * Its PRVs are Y = log(Q/P)(ω) with ω ∼ Q ("remove": the example leaves the data) and
 * Y′ = log(P/Q)(ω) with ω ∼ P ("add"). Both are monotone in ω, so their distributions are
 * Gaussian-mixture CDFs at ω(t): for Y, ω(t) = σ²·log((eᵗ − 1 + q)/q) + ½ for t > log(1 − q).
 * Under add-or-remove adjacency both directions count; this accountant takes the larger ε of
 * the two (Opacus's takes the remove direction only; the bench shows it is the larger one here).
 *
 * Deviations from the paper, deliberate:
 * - Discretisation splits every bit of mass between its two neighbouring grid points in
 *   proportion to distance (the mean of every bin is kept exactly, not only the overall mean
 *   by one shift as in the paper). The rounding errors are then bounded by h and have
 *   conditional mean zero, so by Azuma–Hoeffding their sum over T steps exceeds ε_err with
 *   probability at most δ_err/2 when h = ε_err·√(2/(T·log(4/δ_err))); because
 *   (1 − e^(ε−y))₊ is nondecreasing and 1-Lipschitz, the true δ(ε) ≤ δ̂(ε − ε_err) + δ_err/2
 *   and δ(ε) ≥ δ̂(ε + ε_err) − δ_err/2: the bounds Opacus reports, by a shorter argument.
 * - The FFT grid covers only where the T-step sum lies (a window from Chernoff bounds on
 *   the discretised step's moment generating function, each tail ≤ δ_err/8), not the sum of
 *   every step's support: the circular convolution is unwrapped into that window.
 * - A tail cut off the discretised step (probability ≤ δ_err/(8T) each) goes to +∞ above
 *   (it counts fully in δ) or to the lowest grid point below (where it adds nothing).
 */
import { AegisError } from "../../errors.js";
import { normalCdf } from "../../normal.js";
import { fft } from "./fft.js";
import type { GaussianComposition } from "./rdp.js";

export interface PrvOptions {
  /** Error allowed in ε (default 0.01, as Opacus). */
  epsilonError?: number;
  /** Error allowed in δ (default δ/1000, as Opacus). */
  deltaError?: number;
}

export interface PrvEpsilon {
  /** Upper bound: ε̂(δ − δ_err) + ε_err, the guarantee (what Opacus's get_epsilon returns). */
  epsilon: number;
  /** The discretised distribution's ε at δ. */
  estimate: number;
  /** Lower bound: ε̂(δ + δ_err) − ε_err. */
  lower: number;
  /** The direction whose loss is larger. */
  direction: "remove" | "add";
  mesh: number;
  /** FFT points. */
  points: number;
}

/** A privacy loss variable through its distribution function. */
interface LossVariable {
  /** Support, infinite where the variable is unbounded. */
  lower: number;
  upper: number;
  /** P(Y ≤ t) and P(Y > t), each accurate where it is small. */
  at(t: number): Tail;
}

interface Tail {
  cdf: number;
  survival: number;
}

/** Φ(x) and 1 − Φ(x) from one erfc: the smaller one directly, the other as its complement. */
function normalTail(x: number): Tail {
  const small = normalCdf(-Math.abs(x));
  return x < 0 ? { cdf: small, survival: 1 - small } : { cdf: 1 - small, survival: small };
}

/** P(a < Y ≤ b) from the tails at a and b, subtracting the smaller pair. */
function massBetween(a: Tail, b: Tail): number {
  return a.survival < b.cdf ? a.survival - b.survival : b.cdf - a.cdf;
}

function removeVariable(q: number, sigma: number): LossVariable {
  const logQ = Math.log(q);
  // Y ≤ t ⇔ ω ≤ ω(t); ω ∼ (1 − q)N(0, σ²) + q·N(1, σ²).
  const omega = (t: number): number => {
    if (t === Number.POSITIVE_INFINITY) return t;
    const u = Math.expm1(t) + q;
    return u <= 0 ? Number.NEGATIVE_INFINITY : sigma * sigma * (Math.log(u) - logQ) + 0.5;
  };
  return {
    lower: Math.log1p(-q),
    upper: Number.POSITIVE_INFINITY,
    at(t) {
      const w = omega(t);
      const without = normalTail(w / sigma);
      const withIt = normalTail((w - 1) / sigma);
      return { cdf: (1 - q) * without.cdf + q * withIt.cdf, survival: (1 - q) * without.survival + q * withIt.survival };
    },
  };
}

function addVariable(q: number, sigma: number): LossVariable {
  const logQ = Math.log(q);
  // Y′ ≤ t ⇔ ω ≥ w(t), decreasing in t; ω ∼ N(0, σ²).
  const w = (t: number): number => {
    if (t === Number.NEGATIVE_INFINITY) return Number.POSITIVE_INFINITY;
    const u = Math.expm1(-t) + q;
    return u <= 0 ? Number.NEGATIVE_INFINITY : sigma * sigma * (Math.log(u) - logQ) + 0.5;
  };
  return {
    lower: Number.NEGATIVE_INFINITY,
    upper: -Math.log1p(-q),
    at(t) {
      const omega = normalTail(w(t) / sigma);
      return { cdf: omega.survival, survival: omega.cdf };
    },
  };
}

/** One step's loss on the grid y_k = k·h, k ≥ first, and the probability of +∞. */
interface DiscreteLoss {
  first: number;
  pmf: Float64Array;
  infinity: number;
}

/** The point where the tail beyond it has probability at most τ (searching outward from 0). */
function tailCut(v: LossVariable, tau: number, side: "lower" | "upper"): number {
  const tail = (t: number) => (side === "upper" ? v.at(t).survival : v.at(t).cdf);
  let t = side === "upper" ? 1 : -1;
  while (tail(t) > tau) t *= 2;
  return t;
}

function discretise(v: LossVariable, h: number, tau: number): DiscreteLoss {
  const lo = Number.isFinite(v.lower) ? v.lower : tailCut(v, tau, "lower");
  const hi = Number.isFinite(v.upper) ? v.upper : tailCut(v, tau, "upper");
  const first = Math.floor(lo / h);
  const last = Math.ceil(hi / h);
  const pmf = new Float64Array(last - first + 1);
  let left = v.at(first * h);
  pmf[0] = left.cdf;
  for (let i = 0; i < pmf.length - 1; i++) {
    const a = (first + i) * h;
    const middle = v.at(a + h / 2);
    const right = v.at(a + h);
    const whole = massBetween(left, right);
    // Mass at distance u above a goes u/h to the upper point: (1/h)∫₀ʰ P(a < Y ≤ a + u) du by Simpson's rule.
    const toUpper = (4 * massBetween(left, middle) + whole) / 6;
    pmf[i] += whole - toUpper;
    pmf[i + 1] += toUpper;
    left = right;
  }
  return { first, pmf, infinity: left.survival };
}

/** log E[e^(λY)] over the finite part of a discretised loss. */
function logMoment(d: DiscreteLoss, h: number, lambda: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < d.pmf.length; i++) if (d.pmf[i] > 0) max = Math.max(max, lambda * (d.first + i) * h);
  let sum = 0;
  for (let i = 0; i < d.pmf.length; i++) if (d.pmf[i] > 0) sum += d.pmf[i] * Math.exp(lambda * (d.first + i) * h - max);
  return max + Math.log(sum);
}

const LAMBDAS = [0.0625, 0.125, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128];
const MAX_POINTS = 2 ** 24;

/** The composed loss on the grid: value (start + i)·h with probability pmf[i], and the probability of +∞. */
interface ComposedLoss {
  start: number;
  pmf: Float64Array;
  infinity: number;
}

function compose(steps: { loss: DiscreteLoss; count: number }[], h: number, tailBudget: number): ComposedLoss {
  const logTau = Math.log(tailBudget);
  const total = (lambda: number) => steps.reduce((s, { loss, count }) => s + count * logMoment(loss, h, lambda), 0);
  // Chernoff: P(S ≥ r) ≤ exp(K(λ) − λr) and P(S ≤ a) ≤ exp(K(−λ) + λa).
  const top = Math.min(...LAMBDAS.map((l) => (total(l) - logTau) / l));
  const bottom = Math.max(...LAMBDAS.map((l) => (logTau - total(-l)) / l));
  const start = Math.floor(bottom / h);
  const span = Math.ceil(top / h) - start + 1;
  let n = 1;
  while (n < span) n *= 2;
  if (n > MAX_POINTS) {
    throw new AegisError("BAD_OPTION", `the PRV accountant would need ${n.toLocaleString("en-US")} grid points here; allow a larger --epsilon-error`);
  }
  const re = new Float64Array(n).fill(1);
  const im = new Float64Array(n);
  const wrap = (k: number) => ((k % n) + n) % n;
  for (const { loss, count } of steps) {
    const sr = new Float64Array(n);
    const si = new Float64Array(n);
    for (let i = 0; i < loss.pmf.length; i++) sr[wrap(loss.first + i)] += loss.pmf[i];
    fft(sr, si);
    for (let k = 0; k < n; k++) {
      const r = Math.hypot(sr[k], si[k]);
      if (r === 0) {
        re[k] = 0;
        im[k] = 0;
        continue;
      }
      const magnitude = Math.exp(count * Math.log(r));
      const angle = count * Math.atan2(si[k], sr[k]);
      const pr = magnitude * Math.cos(angle);
      const pi = magnitude * Math.sin(angle);
      const xr = re[k] * pr - im[k] * pi;
      im[k] = re[k] * pi + im[k] * pr;
      re[k] = xr;
    }
  }
  fft(re, im, true);
  const pmf = new Float64Array(n);
  for (let i = 0; i < n; i++) pmf[i] = re[wrap(start + i)] / n;
  const finite = steps.reduce((p, { loss, count }) => p * (1 - loss.infinity) ** count, 1);
  return { start, pmf, infinity: 1 - finite };
}

/**
 * ε̂(δ) of a composed loss: the ε where Σ_{y>ε} p(y)(1 − e^(ε−y)) + P(∞) = δ, from the suffix
 * sums D1ᵢ = Σ_{j≥i} pⱼ and D2ᵢ = Σ_{j≥i} pⱼe^(−yⱼ), summed from the small tail up with
 * Neumaier's compensation.
 */
function epsilonReader(c: ComposedLoss, h: number): (delta: number) => number {
  const n = c.pmf.length;
  const d1 = new Float64Array(n + 1);
  const d2 = new Float64Array(n + 1);
  let s1 = 0;
  let c1 = 0;
  let s2 = 0;
  let c2 = 0;
  for (let i = n - 1; i >= 0; i--) {
    const x1 = c.pmf[i];
    const t1 = s1 + x1;
    c1 += Math.abs(s1) >= Math.abs(x1) ? s1 - t1 + x1 : x1 - t1 + s1;
    s1 = t1;
    const x2 = c.pmf[i] * Math.exp(-(c.start + i) * h);
    const t2 = s2 + x2;
    c2 += Math.abs(s2) >= Math.abs(x2) ? s2 - t2 + x2 : x2 - t2 + s2;
    s2 = t2;
    d1[i] = s1 + c1;
    d2[i] = s2 + c2;
  }
  // δ̂ at ε = yᵢ is d1[i+1] − e^(yᵢ)·d2[i+1] + P(∞), decreasing in i.
  const deltaAt = (i: number) => d1[i + 1] - Math.exp((c.start + i) * h) * d2[i + 1] + c.infinity;
  return (delta) => {
    if (c.infinity >= delta) return Number.POSITIVE_INFINITY;
    let lo = 0;
    let hi = n - 1;
    if (deltaAt(lo) <= delta) return 0;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (deltaAt(mid) <= delta) hi = mid;
      else lo = mid;
    }
    // Between y_lo and y_hi only the points from hi up exceed ε.
    return Math.max(0, Math.log((d1[hi] + c.infinity - delta) / d2[hi]));
  };
}

/** ε of the compositions at δ with the PRV accountant, with its error bounds. */
export function prvEpsilon(compositions: readonly GaussianComposition[], delta: number, options: PrvOptions = {}): PrvEpsilon {
  const epsilonError = options.epsilonError ?? 0.01;
  const deltaError = options.deltaError ?? delta / 1000;
  if (!(epsilonError > 0)) throw new AegisError("BAD_OPTION", `the ε error must be positive, not ${epsilonError}`);
  if (!(deltaError > 0 && deltaError < delta)) throw new AegisError("BAD_OPTION", `the δ error must be in (0, δ), not ${deltaError}`);
  const active = compositions.filter((c) => c.samplingRate > 0 && c.steps > 0);
  if (active.length === 0) return { epsilon: 0, estimate: 0, lower: 0, direction: "remove", mesh: 0, points: 0 };
  if (active.some((c) => c.noiseMultiplier === 0)) {
    const inf = Number.POSITIVE_INFINITY;
    return { epsilon: inf, estimate: inf, lower: inf, direction: "remove", mesh: 0, points: 0 };
  }
  const steps = active.reduce((s, c) => s + c.steps, 0);
  const mesh = epsilonError * Math.sqrt(2 / (steps * Math.log(4 / deltaError)));
  const results = (["remove", "add"] as const).map((direction) => {
    const losses = active.map((c) => ({
      loss: discretise((direction === "remove" ? removeVariable : addVariable)(c.samplingRate, c.noiseMultiplier), mesh, deltaError / (8 * steps)),
      count: c.steps,
    }));
    const composed = compose(losses, mesh, deltaError / 8);
    if (composed.pmf.length * Number.EPSILON > deltaError) {
      throw new AegisError("BAD_OPTION", `δ = ${delta} is too small for the PRV accountant's floating-point precision on this grid; use --accountant rdp`);
    }
    const epsilonAt = epsilonReader(composed, mesh);
    return {
      direction,
      estimate: epsilonAt(delta),
      upper: epsilonAt(delta - deltaError) + epsilonError,
      lower: Math.max(0, epsilonAt(delta + deltaError) - epsilonError),
      points: composed.pmf.length,
    };
  });
  const worst = results[0].estimate >= results[1].estimate ? results[0] : results[1];
  return {
    epsilon: Math.max(results[0].upper, results[1].upper),
    estimate: worst.estimate,
    lower: Math.max(results[0].lower, results[1].lower),
    direction: worst.direction,
    mesh,
    points: Math.max(results[0].points, results[1].points),
  };
}
