/**
 * The Rényi-DP accountant (Mironov 2017) of DP-SGD's mechanism, the Poisson-subsampled
 * Gaussian, with its RDP at order α from Mironov, Talwar & Zhang 2019 ("Rényi Differential
 * Privacy of the Sampled Gaussian Mechanism", Section 3.3): A_α = E_{z∼μ₀}[(μ(z)/μ₀(z))^α]
 * for μ₀ = N(0, σ²), μ = (1 − q)μ₀ + q·N(1, σ²), and RDP(α) = log A_α/(α − 1):
 *
 * - integer α: A_α = Σₖ C(α, k)(1 − q)^(α−k) qᵏ exp((k² − k)/(2σ²)), a finite sum;
 * - fractional α: the integral split at z₀ = σ² log(1/q − 1) + ½, where the two mixture terms
 *   are equal, each side expanded in the binomial series of its smaller term, whose terms are
 *   C(α, k)·(weights)·exp((k² − k)/(2σ²))·½erfc(±(k − z₀)/(√2σ)); summed until below e⁻³⁰.
 *
 * RDP composes by addition over steps. Two conversions to (ε, δ):
 * - "balle2020", Balle et al. 2020 ("Hypothesis Testing Interpretations and Rényi
 *   Differential Privacy", Theorem 21), what TF Privacy and Opacus use now:
 *   ε = RDP(α) + log((α − 1)/α) − (log δ + log α)/(α − 1); ε = 0 when √(1 − e^(−RDP)) ≤ δ
 *   (the total-variation bound through the KL divergence);
 * - "mironov2017", Mironov 2017 (Proposition 3), the older and looser ε = RDP(α) + log(1/δ)/(α − 1)
 *   that published tables use (the "3.01" of TF Privacy's tutorial).
 * Both minimise over the orders. The default orders are those of TF Privacy's
 * compute_dp_sgd_privacy; Opacus's defaults (1.1…10.9 by 0.1, then 12…63) are OPACUS_ORDERS.
 */
import { logErfc } from "../../normal.js";
import { logAdd, SignedLogSum } from "./special.js";

/** T steps of the Poisson-subsampled Gaussian mechanism with rate q and noise multiplier σ. */
export interface GaussianComposition {
  noiseMultiplier: number;
  samplingRate: number;
  steps: number;
}

export type RdpConversion = "balle2020" | "mironov2017";
export const RDP_CONVERSIONS: readonly RdpConversion[] = ["balle2020", "mironov2017"];

export const DEFAULT_ORDERS: readonly number[] = [1.25, 1.5, 1.75, 2, 2.25, 2.5, 3, 3.5, 4, 4.5, ...Array.from({ length: 59 }, (_, i) => i + 5), 128, 256, 512];

export const OPACUS_ORDERS: readonly number[] = [...Array.from({ length: 99 }, (_, i) => 1 + (i + 1) / 10), ...Array.from({ length: 52 }, (_, i) => i + 12)];

export interface RdpEpsilon {
  epsilon: number;
  /** The order that gave the smallest ε. */
  order: number;
}

/** RDP of one step of the mechanism at order α > 1. */
export function subsampledGaussianRdp(samplingRate: number, noiseMultiplier: number, order: number): number {
  const q = samplingRate;
  const sigma = noiseMultiplier;
  if (q === 0) return 0;
  if (sigma === 0) return Number.POSITIVE_INFINITY;
  if (q === 1) return order / (2 * sigma * sigma);
  if (!Number.isFinite(order)) return Number.POSITIVE_INFINITY;
  const logA = Number.isInteger(order) ? logAInteger(q, sigma, order) : logAFractional(q, sigma, order);
  return logA / (order - 1);
}

function logAInteger(q: number, sigma: number, alpha: number): number {
  let logA = Number.NEGATIVE_INFINITY;
  let logBinomial = 0;
  for (let k = 0; k <= alpha; k++) {
    if (k > 0) logBinomial += Math.log((alpha - k + 1) / k);
    const term = logBinomial + k * Math.log(q) + (alpha - k) * Math.log1p(-q) + (k * k - k) / (2 * sigma * sigma);
    logA = logAdd(logA, term);
  }
  return logA;
}

function logAFractional(q: number, sigma: number, alpha: number): number {
  const below = new SignedLogSum();
  const above = new SignedLogSum();
  const z0 = sigma * sigma * Math.log(1 / q - 1) + 0.5;
  const scale = Math.SQRT2 * sigma;
  const logQ = Math.log(q);
  const log1mQ = Math.log1p(-q);
  // C(α, k) for real α, by its recurrence: sign and log of its magnitude.
  let sign = 1;
  let logBinomial = 0;
  for (let k = 0; ; k++) {
    if (k > 0) {
      const factor = (alpha - k + 1) / k;
      if (factor < 0) sign = -sign;
      logBinomial += Math.log(Math.abs(factor));
    }
    const j = alpha - k;
    const termBelow = logBinomial + k * logQ + j * log1mQ + (k * k - k) / (2 * sigma * sigma) + Math.log(0.5) + logErfc((k - z0) / scale);
    const termAbove = logBinomial + j * logQ + k * log1mQ + (j * j - j) / (2 * sigma * sigma) + Math.log(0.5) + logErfc((z0 - j) / scale);
    below.add(sign, termBelow);
    above.add(sign, termAbove);
    if (Math.max(termBelow, termAbove) < -30 && k > alpha) break;
  }
  return logAdd(below.log(), above.log());
}

/** Total RDP of the compositions at each order. */
export function rdpCurve(compositions: readonly GaussianComposition[], orders: readonly number[] = DEFAULT_ORDERS): number[] {
  return orders.map((order) => compositions.reduce((sum, c) => sum + c.steps * subsampledGaussianRdp(c.samplingRate, c.noiseMultiplier, order), 0));
}

/** (ε, δ) from an RDP curve: the smallest ε over the orders under one of the two conversions. */
export function epsilonFromRdp(orders: readonly number[], rdp: readonly number[], delta: number, conversion: RdpConversion = "balle2020"): RdpEpsilon {
  let best: RdpEpsilon = { epsilon: Number.POSITIVE_INFINITY, order: Number.NaN };
  for (const [i, order] of orders.entries()) {
    const epsilon = conversion === "balle2020" ? balle2020(order, rdp[i], delta) : mironov2017(order, rdp[i], delta);
    if (epsilon < best.epsilon) best = { epsilon, order };
  }
  return best;
}

function balle2020(alpha: number, rho: number, delta: number): number {
  if (!(rho < Number.POSITIVE_INFINITY)) return Number.POSITIVE_INFINITY;
  if (delta * delta + Math.expm1(-rho) >= 0) return 0;
  // The theorem needs α > 1; near 1 the bound is loose and numerically fragile.
  if (alpha <= 1.01) return Number.POSITIVE_INFINITY;
  return Math.max(0, rho + Math.log1p(-1 / alpha) - (Math.log(delta) + Math.log(alpha)) / (alpha - 1));
}

function mironov2017(alpha: number, rho: number, delta: number): number {
  if (!(rho < Number.POSITIVE_INFINITY) || alpha <= 1) return Number.POSITIVE_INFINITY;
  return Math.max(0, rho + Math.log(1 / delta) / (alpha - 1));
}

/** ε of the compositions at δ with the RDP accountant. */
export function rdpEpsilon(
  compositions: readonly GaussianComposition[],
  delta: number,
  options: { orders?: readonly number[]; conversion?: RdpConversion } = {},
): RdpEpsilon {
  const orders = options.orders ?? DEFAULT_ORDERS;
  return epsilonFromRdp(orders, rdpCurve(compositions, orders), delta, options.conversion);
}
