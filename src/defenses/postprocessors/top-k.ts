/**
 * Top-k probabilities only (Shokri, Stronati, Song & Shmatikov 2017, "Membership Inference
 * Attacks Against Machine Learning Models", mitigation "restrict the prediction vector to top k
 * classes"): the k largest probabilities of each row are kept, the others set to 0, without
 * renormalising, so the argmax and the kept values are unchanged. Default k = 3, the
 * paper's setting (k = 1 leaves the top probability alone).
 */
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import type { Postprocessor } from "../types.js";

export function topK(options: { k?: number } = {}): Postprocessor {
  const k = options.k ?? 3;
  if (!Number.isInteger(k) || k < 1) throw new AegisError("BAD_OPTION", `top-k needs a positive integer k, got ${k}.`);
  return {
    name: `top-k(k=${k})`,
    apply(probs: Tensor<"float32">): Tensor<"float32"> {
      const [n, classes] = probs.shape as [number, number];
      const out = new Float32Array(probs.data.length);
      const order = Array.from({ length: classes }, (_, j) => j);
      for (let i = 0; i < n; i++) {
        const row = probs.data.subarray(i * classes, (i + 1) * classes);
        // Stable sort: ties keep the lower class first, as argmax does.
        order.sort((a, b) => row[b]! - row[a]! || a - b);
        for (const j of order.slice(0, k)) out[i * classes + j] = row[j]!;
        order.sort((a, b) => a - b);
      }
      return float32(probs.shape, out);
    },
  };
}
