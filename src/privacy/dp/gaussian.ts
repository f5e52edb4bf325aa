/**
 * The Gaussian mechanism for (ε, δ)-DP of a query with L2 sensitivity Δ:
 * - "analytic" (default): Balle & Wang, "Improving the Gaussian Mechanism for Differential
 *   Privacy: Analytical Calibration and Optimal Denoising", ICML 2018, Theorem 8: N(0, σ²) is
 *   (ε, δ)-DP iff Φ(Δ/(2σ) − εσ/Δ) − e^ε·Φ(−Δ/(2σ) − εσ/Δ) ≤ δ; the smallest such σ by
 *   bisection (the left side falls as σ grows). Valid for every ε > 0.
 * - "classic": Dwork & Roth 2014, Theorem A.1: σ = Δ·√(2 log(1.25/δ))/ε, proven for ε < 1
 *   only, and larger than the analytic σ.
 */
import { AegisError } from "../../errors.js";
import { logErfc, normalCdf } from "../../normal.js";
import { checkEpsilon } from "./laplace.js";

export const GAUSSIAN_CALIBRATIONS = ["analytic", "classic"] as const;
export type GaussianCalibration = (typeof GAUSSIAN_CALIBRATIONS)[number];

function checkGaussian(sensitivity: number, epsilon: number, delta: number): void {
  checkEpsilon(epsilon);
  if (!(delta > 0 && delta < 1)) throw new AegisError("BAD_OPTION", `the Gaussian mechanism needs δ in (0, 1), not ${delta}`);
  if (!(sensitivity > 0 && Number.isFinite(sensitivity)))
    throw new AegisError("BAD_OPTION", `the sensitivity must be a positive finite number, not ${sensitivity}`);
}

/** δ of N(0, σ²) noise at ε for sensitivity Δ (Balle & Wang's Theorem 8); e^ε·Φ(−x) in log space. */
export function gaussianDelta(sigma: number, sensitivity: number, epsilon: number): number {
  const a = sensitivity / (2 * sigma);
  const b = (epsilon * sigma) / sensitivity;
  const far = Math.exp(epsilon + Math.log(0.5) + logErfc((a + b) / Math.SQRT2));
  return Math.max(0, normalCdf(a - b) - far);
}

export function gaussianSigma(sensitivity: number, epsilon: number, delta: number, calibration: GaussianCalibration = "analytic"): number {
  checkGaussian(sensitivity, epsilon, delta);
  if (calibration === "classic") {
    if (epsilon >= 1) throw new AegisError("BAD_OPTION", `the classic Gaussian calibration is proven for ε < 1 only, not ${epsilon}; use the analytic one`);
    return (sensitivity * Math.sqrt(2 * Math.log(1.25 / delta))) / epsilon;
  }
  let low = 0;
  let high = sensitivity;
  while (gaussianDelta(high, sensitivity, epsilon) > delta) high *= 2;
  while ((high - low) / high > 1e-12) {
    const mid = (low + high) / 2;
    if (gaussianDelta(mid, sensitivity, epsilon) > delta) low = mid;
    else high = mid;
  }
  return high;
}
