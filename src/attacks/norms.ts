/**
 * Per-sample vector operations shared by the attacks: steepest-ascent directions and
 * projections onto Lp balls, on rows of a flat batch. All in place on Float32Arrays.
 */
import type { Norm } from "./types.js";

/** Lp norm of one row. */
export function rowNorm(v: Float32Array, start: number, end: number, norm: Norm): number {
  let s = 0;
  if (norm === "inf") {
    for (let i = start; i < end; i++) s = Math.max(s, Math.abs(v[i]));
    return s;
  }
  if (norm === "1") {
    for (let i = start; i < end; i++) s += Math.abs(v[i]);
    return s;
  }
  for (let i = start; i < end; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

/**
 * The unit-norm direction of steepest ascent of a linear function with gradient g:
 * sign(g) for L∞, g/‖g‖₂ for L2, and for L1 the sign of the largest coordinates only
 * (the top 1−q quantile, as SLIDE, Tramèr & Boneh 2019), scaled to unit L1 norm.
 */
export function ascentDirection(g: Float32Array, start: number, end: number, norm: Norm, out: Float32Array, l1Quantile = 0.99): void {
  if (norm === "inf") {
    for (let i = start; i < end; i++) out[i] = Math.sign(g[i]);
    return;
  }
  if (norm === "2") {
    const n = rowNorm(g, start, end, "2") || 1;
    for (let i = start; i < end; i++) out[i] = g[i] / n;
    return;
  }
  const magnitudes = Float32Array.from(g.subarray(start, end), Math.abs).sort();
  const threshold = magnitudes[Math.min(magnitudes.length - 1, Math.floor(l1Quantile * magnitudes.length))];
  let count = 0;
  for (let i = start; i < end; i++) if (Math.abs(g[i]) >= threshold && g[i] !== 0) count++;
  for (let i = start; i < end; i++) out[i] = Math.abs(g[i]) >= threshold && g[i] !== 0 ? Math.sign(g[i]) / count : 0;
}

/** Projects row `delta[start:end]` onto the Lp ball of radius eps. */
export function projectBall(delta: Float32Array, start: number, end: number, norm: Norm, eps: number): void {
  if (norm === "inf") {
    for (let i = start; i < end; i++) delta[i] = Math.min(eps, Math.max(-eps, delta[i]));
    return;
  }
  const n = rowNorm(delta, start, end, norm);
  if (n <= eps) return;
  if (norm === "2") {
    const scale = eps / n;
    for (let i = start; i < end; i++) delta[i] *= scale;
    return;
  }
  // L1: soft-threshold at the θ that leaves norm eps (Duchi et al. 2008, sort-based).
  const sorted = Float32Array.from(delta.subarray(start, end), Math.abs).sort().reverse();
  let cumulative = 0;
  let theta = 0;
  for (let k = 0; k < sorted.length; k++) {
    cumulative += sorted[k];
    const t = (cumulative - eps) / (k + 1);
    if (k === sorted.length - 1 || sorted[k + 1] <= t) {
      theta = t;
      break;
    }
  }
  for (let i = start; i < end; i++) delta[i] = Math.sign(delta[i]) * Math.max(0, Math.abs(delta[i]) - theta);
}

/** A uniformly random point of the Lp ball of radius eps (random start of PGD). */
export function randomInBall(out: Float32Array, start: number, end: number, norm: Norm, eps: number, next: () => number, normal: () => number): void {
  const d = end - start;
  if (norm === "inf") {
    for (let i = start; i < end; i++) out[i] = (2 * next() - 1) * eps;
    return;
  }
  if (norm === "2") {
    // Gaussian direction, radius eps·u^(1/d): uniform in the L2 ball.
    for (let i = start; i < end; i++) out[i] = normal();
    const n = rowNorm(out, start, end, "2") || 1;
    const r = eps * next() ** (1 / d);
    for (let i = start; i < end; i++) out[i] *= r / n;
    return;
  }
  // L1: Laplace coordinates normalised, radius eps·u^(1/d): uniform in the L1 ball.
  for (let i = start; i < end; i++) out[i] = -Math.log(1 - next()) * (next() < 0.5 ? -1 : 1);
  const n = rowNorm(out, start, end, "1") || 1;
  const r = eps * next() ** (1 / d);
  for (let i = start; i < end; i++) out[i] *= r / n;
}
