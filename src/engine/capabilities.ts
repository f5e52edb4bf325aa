/**
 * What a model can do for an attack, as in ART's estimators but as small capabilities:
 * an attack names in its type the ones it needs, so the compiler (and
 * `aegis attack --list`) can tell which attacks apply to which model. An ONNX model with
 * a gradient rule for every op has all three; an HTTP endpoint has `Predictor` only.
 */
import type { Tensor } from "../tensor.js";

/**
 * What a model offers an attack. Over continuous inputs: predictions always, the two input
 * gradients when it is differentiable. Over token ids (discrete, so no input gradient):
 * predictions on token ids, and the gradient with respect to the embedding output.
 */
export type Capability = "predict" | "lossGradient" | "classGradient" | "predictTokens" | "embeddingGradient";

export const ALL_CAPABILITIES: readonly Capability[] = ["predict", "lossGradient", "classGradient", "predictTokens", "embeddingGradient"];

/** Class labels, one per sample. */
export type Labels = readonly number[];

export interface ModelInfo {
  /** Shape of one sample (without the batch axis), e.g. [1, 28, 28]. */
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  /** Valid input range, used by attacks to clip (default [0, 1]). */
  readonly clipRange: readonly [number, number];
  /** What `predict` returns. */
  readonly outputKind: "logits" | "probs";
}

export interface Predictor extends ModelInfo {
  /** Model outputs (logits or probabilities, see outputKind), shape [N, numClasses]. */
  predict(x: Tensor<"float32">): Promise<Tensor<"float32">>;
}

/**
 * Losses a gradient can be taken of; all are per-sample and summed over the batch.
 * "dlr-targeted" also needs a target class per sample (`targets` in the options).
 */
export type LossName = "ce" | "margin" | "dlr" | "dlr-targeted";

export interface LossOptions {
  loss?: LossName;
  /** Target classes of a targeted loss, one per sample (the labels then hold the true classes). */
  targets?: Labels;
}

export interface LossGradient {
  /** ∂(Σᵢ loss(xᵢ, yᵢ))/∂x — each sample's gradient of its own loss, independent of batching. */
  lossGradient(x: Tensor<"float32">, y: Labels, options?: LossOptions): Promise<Tensor<"float32">>;
  /** The same gradient with the per-sample losses and model outputs of the same run (iterative attacks need all three). */
  valueAndGradient(x: Tensor<"float32">, y: Labels, options?: LossOptions): Promise<{ loss: Float32Array; output: Tensor<"float32">; grad: Tensor<"float32"> }>;
}

export interface ClassGradient {
  /** ∂(Σᵢ outputᵢ[clsᵢ])/∂x, the gradient of each sample's output for its class. */
  classGradient(x: Tensor<"float32">, cls: Labels): Promise<Tensor<"float32">>;
}

export type Classifier = Predictor & LossGradient & ClassGradient;

/**
 * A model over token ids (float32 tensors [N, T] holding integers), seen through its
 * embedding table: `predict` takes ids, gradients are taken with respect to the embedding.
 */
export interface EmbeddingGradient extends Predictor {
  readonly vocabulary: number;
  readonly dimension: number;
  /** The embedding table, row-major [vocabulary, dimension]. */
  readonly table: Float32Array;
  /** The embedding of every token, [N, T, D]. */
  embed(ids: Tensor<"float32">): Tensor<"float32">;
  /** Per-sample losses, outputs and ∂(Σ loss)/∂embedding at `embedding`, the ids giving what the rest of the model reads besides it (masks). */
  embeddingGradient(
    ids: Tensor<"float32">,
    embedding: Tensor<"float32">,
    y: Labels,
    options?: LossOptions,
  ): Promise<{ loss: Float32Array; output: Tensor<"float32">; grad: Tensor<"float32"> }>;
}

export function hasLossGradient(m: object): m is LossGradient {
  return typeof (m as Partial<LossGradient>).lossGradient === "function";
}

export function hasEmbeddingGradient(m: object): m is EmbeddingGradient {
  return typeof (m as Partial<EmbeddingGradient>).embeddingGradient === "function";
}

export function hasClassGradient(m: object): m is ClassGradient {
  return typeof (m as Partial<ClassGradient>).classGradient === "function";
}

/**
 * The capabilities of a model object: predict, plus each gradient it has a method for (a
 * token model: predictTokens and embeddingGradient) — unless its graph is not differentiable (an op without a gradient rule), which `aegis
 * inspect` tells before any attack runs.
 */
export function capabilitiesOf(model: object, differentiable = true): Set<Capability> {
  if (hasEmbeddingGradient(model)) return new Set<Capability>(differentiable ? ["predictTokens", "embeddingGradient"] : ["predictTokens"]);
  const capabilities = new Set<Capability>(["predict"]);
  if (differentiable && hasLossGradient(model)) capabilities.add("lossGradient");
  if (differentiable && hasClassGradient(model)) capabilities.add("classGradient");
  return capabilities;
}
