/**
 * Gaussian noise on the output probabilities (Chandrasekaran, Chaudhuri, Giacomelli, Jha &
 * Yan 2018, "Exploring Connections Between Active Learning and Model Extraction": output
 * perturbation against extraction; ART's GaussianNoise postprocessor): N(0, σ²) is added to
 * each probability, negatives are set to 0 and the row is renormalised to sum to 1. Default
 * σ = 0.2 (ART's). The argmax may change: that is the price of the defence, which the tests
 * measure.
 */
import { createRng, type Rng } from "../../data/random.js";
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Postprocessor } from "../types.js";

export interface ProbabilityNoiseOptions {
  /** Standard deviation σ of the noise (default 0.2). */
  sigma?: number;
  seed?: number;
  rng?: Rng;
}

export function probabilityNoise(options: ProbabilityNoiseOptions = {}): Postprocessor {
  const sigma = options.sigma ?? 0.2;
  if (!(sigma > 0 && Number.isFinite(sigma))) throw new AegisError("BAD_OPTION", `probability noise needs a positive sigma, got ${sigma}.`);
  const rng = options.rng ?? createRng(options.seed ?? 0);
  return {
    name: `probability-noise(sigma=${sigma})`,
    apply(probs: Tensor<"float32">): Tensor<"float32"> {
      const [n, classes] = probs.shape as [number, number];
      const out = new Float32Array(probs.data.length);
      for (let i = 0; i < n; i++) {
        let sum = 0;
        for (let j = 0; j < classes; j++) {
          const v = Math.max(0, probs.data[i * classes + j]! + sigma * rng.normal());
          out[i * classes + j] = v;
          sum += v;
        }
        for (let j = 0; j < classes; j++) out[i * classes + j] = sum > 0 ? out[i * classes + j]! / sum : 1 / classes;
      }
      return float32(probs.shape, out);
    },
  };
}
