/**
 * Class labels only (Tramèr, Zhang, Juels, Reiter & Ristenpart 2016, "Stealing Machine
 * Learning Models via Prediction APIs": APIs that return only the label): each row
 * becomes the one-hot vector of its argmax (the lowest class on ties), so a caller learns
 * the decision and nothing of the confidence.
 */
import { argmaxRow } from "../../engine/trainer.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Postprocessor } from "../types.js";

export function labelsOnly(): Postprocessor {
  return {
    name: "labels-only",
    apply(probs: Tensor<"float32">): Tensor<"float32"> {
      const [n, classes] = probs.shape as [number, number];
      const out = new Float32Array(probs.data.length);
      for (let i = 0; i < n; i++) out[i * classes + argmaxRow(probs, i)] = 1;
      return float32(probs.shape, out);
    },
  };
}
