/**
 * Rounded probabilities (Tramèr, Zhang, Juels, Reiter & Ristenpart 2016, "Stealing Machine
 * Learning Models via Prediction APIs"; Shokri et al. 2017 use it against membership
 * inference): each probability is rounded to `decimals` decimal places, which removes the
 * low-order digits equation-solving and membership attacks read. Default 3 decimals (the
 * finest rounding Shokri et al. evaluate, and ART's default). The argmax can only change
 * between classes whose probabilities round to the same value.
 */
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Postprocessor } from "../types.js";

export function rounding(options: { decimals?: number } = {}): Postprocessor {
  const decimals = options.decimals ?? 3;
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 7) {
    throw new AegisError("BAD_OPTION", `rounding needs an integer number of decimals between 0 and 7, got ${decimals}.`);
  }
  const scale = 10 ** decimals;
  return {
    name: `rounding(decimals=${decimals})`,
    apply(probs: Tensor<"float32">): Tensor<"float32"> {
      return float32(
        probs.shape,
        Float32Array.from(probs.data, (p) => Math.round(p * scale) / scale),
      );
    },
  };
}
