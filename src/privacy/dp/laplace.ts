/**
 * The Laplace mechanism — Dwork, McSherry, Nissim & Smith, "Calibrating Noise to Sensitivity
 * in Private Data Analysis", TCC 2006: a query whose answer moves by at most Δ (L1) when one
 * record is added or removed is ε-DP with Laplace noise of scale b = Δ/ε added.
 * Samples by the inverse CDF from SecureRandom's 53-bit uniforms. Not the snapping mechanism
 * (Mironov 2012): floating-point noise leaks through its low-order bits in principle.
 */
import { AegisError } from "../../errors.js";
import type { SecureRandom } from "./secure-random.js";

export function checkEpsilon(epsilon: number): void {
  if (!(epsilon > 0 && Number.isFinite(epsilon))) throw new AegisError("BAD_OPTION", `ε must be a positive number, not ${epsilon}`);
}

/** b = Δ/ε. */
export function laplaceScale(sensitivity: number, epsilon: number): number {
  checkEpsilon(epsilon);
  if (!(sensitivity >= 0 && Number.isFinite(sensitivity)))
    throw new AegisError("BAD_OPTION", `the sensitivity must be a finite number ≥ 0, not ${sensitivity}`);
  return sensitivity / epsilon;
}

/** One draw of Laplace(0, b): −b·sign(u)·log(1 − 2|u|) for u uniform on (−½, ½). */
export function sampleLaplace(scale: number, random: SecureRandom): number {
  const u = random.uniform() - 0.5;
  return -scale * Math.sign(u) * Math.log1p(-2 * Math.abs(u));
}

/** Half-width of the interval that holds the noise with probability `coverage`: b·log(1/(1 − coverage)). */
export function laplaceInterval(scale: number, coverage = 0.95): number {
  return scale * Math.log(1 / (1 - coverage));
}
