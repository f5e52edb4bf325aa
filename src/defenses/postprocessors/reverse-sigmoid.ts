/**
 * Reverse sigmoid (Lee, Edraki & Qi 2019, "Defending Against NN Model Stealing Attacks
 * Using Deceptive Perturbations", IEEE S&P Workshops): each probability y is perturbed by
 *   r(y) = β·(σ(γ·σ⁻¹(y)) − ½),   ŷ = α·(y − r(y)),
 * with α renormalising the row. Since σ(γ·σ⁻¹(y)) flattens the logit by γ, the perturbation
 * pushes probabilities toward ½ in a way whose gradient misleads a surrogate trained on
 * them. Defaults β = 1, γ = 0.1 (ART's; the paper sweeps both). With β = 1 a
 * top class above ½ stays on top (y − r(y) is above ½ exactly when y is), but an unconfident
 * top class can be overtaken by near-zero ones, which r lifts toward β/2: the paper's
 * "top-1 preserved" holds for confident predictions only. Probabilities are clipped to
 * [1e-9, 1 − 1e-9] before σ⁻¹ and the perturbed values to [0, 1].
 */
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Postprocessor } from "../types.js";

export interface ReverseSigmoidOptions {
  /** Magnitude β of the perturbation (default 1). */
  beta?: number;
  /** Flattening γ of the logit (default 0.1). */
  gamma?: number;
}

const EPSILON = 1e-9;

export function reverseSigmoid(options: ReverseSigmoidOptions = {}): Postprocessor {
  const beta = options.beta ?? 1;
  const gamma = options.gamma ?? 0.1;
  if (!(beta > 0 && gamma > 0 && Number.isFinite(beta) && Number.isFinite(gamma))) {
    throw new AegisError("BAD_OPTION", `reverse sigmoid needs positive beta and gamma, got beta=${beta}, gamma=${gamma}.`);
  }
  return {
    name: `reverse-sigmoid(beta=${beta},gamma=${gamma})`,
    apply(probs: Tensor<"float32">): Tensor<"float32"> {
      const [n, classes] = probs.shape as [number, number];
      const out = new Float32Array(probs.data.length);
      for (let i = 0; i < n; i++) {
        let sum = 0;
        for (let j = 0; j < classes; j++) {
          const y = Math.min(1 - EPSILON, Math.max(EPSILON, probs.data[i * classes + j]!));
          const logit = Math.log(y / (1 - y));
          const perturbation = beta * (1 / (1 + Math.exp(-gamma * logit)) - 0.5);
          const v = Math.min(1, Math.max(0, y - perturbation));
          out[i * classes + j] = v;
          sum += v;
        }
        // A row can only vanish when every class was pushed below zero; show it uniform then.
        for (let j = 0; j < classes; j++) out[i * classes + j] = sum > 0 ? out[i * classes + j]! / sum : 1 / classes;
      }
      return float32(probs.shape, out);
    },
  };
}
