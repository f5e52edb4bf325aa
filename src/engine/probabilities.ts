/** Class probabilities from a model's raw outputs, whatever it returns. */
import type { Tensor } from "../tensor.js";
import type { ModelInfo } from "./capabilities.js";

/** Row-wise softmax of [N, K] logits, shifted by each row's maximum so large logits do not overflow. */
export function softmaxRows(logits: Tensor<"float32">): Tensor<"float32"> {
  const [n, k] = logits.shape;
  const out = new Float32Array(logits.data.length);
  for (let i = 0; i < n; i++) {
    const row = logits.data.subarray(i * k, (i + 1) * k);
    let max = -Infinity;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (let j = 0; j < k; j++) {
      const e = Math.exp(row[j] - max);
      out[i * k + j] = e;
      sum += e;
    }
    for (let j = 0; j < k; j++) out[i * k + j] /= sum;
  }
  return { dtype: "float32", shape: [n, k], data: out };
}

/** log Σ exp(v) over one row, shifted by its maximum so large values do not overflow. */
export function logSumExp(row: ArrayLike<number>): number {
  let max = -Infinity;
  for (let j = 0; j < row.length; j++) max = Math.max(max, row[j]);
  let sum = 0;
  for (let j = 0; j < row.length; j++) sum += Math.exp(row[j] - max);
  return max + Math.log(sum);
}

/** The model's outputs as probabilities: passed through when it already returns them. */
export function probabilitiesOf(model: Pick<ModelInfo, "outputKind">, output: Tensor<"float32">): Tensor<"float32"> {
  return model.outputKind === "probs" ? output : softmaxRows(output);
}
