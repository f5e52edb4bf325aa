/**
 * Influence filtering by self-influence: TracIn (Pruthi, Liu, Kale & Sundararajan,
 * "Estimating Training Data Influence by Tracing Gradient Descent", NeurIPS 2020) scores a
 * row's influence on its own loss, η·‖∇ℓ(z)‖², summed over checkpoints; its rows of highest
 * self-influence are the paper's mislabelled-data detector, and a poisoned label is one the
 * rest of the data argues against. Here at the trained model's final checkpoint and, of the
 * last layer's gradient (p − onehot(y)) ⊗ [h, 1], its part on the logits, ‖p − onehot(y)‖²:
 * the weights' part multiplies that by ‖h‖² + 1, which on the fraud data ranks every large
 * transaction up whatever its label (ROC AUC on a 1% blind-spot injection 0.92 with it,
 * 0.95 without). A row is then scored by its robust z-score among the rows of its own label:
 * the minority class (fraud) is the harder one, so raw scores sort by label first (recall at
 * 5% false positives on a 3% injection 28% raw, 90% within the class). Measured on the
 * model's outputs alone, so it costs one forward pass.
 *
 * Tried and left out: influence on a trusted set's loss, −∇ℓ(z)·ḡ_trusted, the "opponents"
 * of TracIn. At the final checkpoint it inverts at small budgets (ROC AUC 0.05 on a 1%
 * injection): a poisoned row's gradient also corrects the model's false alarms near the
 * blind spot, so it helps the trusted loss there until the poison dominates.
 */
import type { Tensor } from "../../tensor.js";
import { robustZWithinClass, topShareVerdicts } from "./anomaly.js";
import type { DataInspection } from "./types.js";

export interface InfluenceOptions {
  /** Upper bound on the poisoned share of the rows: the highest-scoring share is flagged. */
  epsilon?: number;
}

export const INFLUENCE_DEFAULTS = { epsilon: 0.05 } as const;

/** Scores rows by self-influence from the model's class probabilities [N, K] on them. */
export function influence(probabilities: Tensor<"float32">, labels: readonly number[], numClasses: number, options: InfluenceOptions = {}): DataInspection {
  const epsilon = options.epsilon ?? INFLUENCE_DEFAULTS.epsilon;
  const [n, k] = probabilities.shape;
  const selfInfluence = new Float64Array(n);
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) selfInfluence[i] += (probabilities.data[i * k + c] - (c === labels[i] ? 1 : 0)) ** 2;
  const scores = robustZWithinClass(selfInfluence, labels, numClasses);
  return {
    defence: "influence",
    paper: "Pruthi et al. 2020, Estimating Training Data Influence by Tracing Gradient Descent (TracIn self-influence, final checkpoint)",
    params: { epsilon },
    rows: n,
    scores,
    ...topShareVerdicts(scores, labels, numClasses, epsilon),
  };
}
