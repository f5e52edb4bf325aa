/**
 * Shapes shared by the defences (ART's families: preprocessor, postprocessor, trainer,
 * detector). A preprocessor transforms inputs before the model and says how an adaptive
 * attacker differentiates through it (BPDA, Athalye, Carlini & Wagner 2018); a
 * postprocessor changes what a caller sees of the outputs; a detector scores inputs.
 */
import type { Tensor } from "../tensor.js";

export interface Preprocessor {
  readonly name: string;
  /** Randomised preprocessors need EOT (expectation over transformation) to attack. */
  readonly randomized: boolean;
  /** Transforms a batch [N, ...sample]. */
  apply(x: Tensor<"float32">): Tensor<"float32"> | Promise<Tensor<"float32">>;
  /**
   * Backward pass for an adaptive attack: maps ∂L/∂apply(x) to ∂L/∂x. BPDA through a
   * non-differentiable transform approximates it by the identity.
   */
  backward(x: Tensor<"float32">, gradOut: Tensor<"float32">): Tensor<"float32">;
  /**
   * The transform's own derivative where it differs from `backward` (zero for a quantiser,
   * the selected pixel for a median): what a naive, non-adaptive attacker differentiating
   * the deployed graph gets. Absent when `backward` already is the true derivative.
   */
  naiveBackward?(x: Tensor<"float32">, gradOut: Tensor<"float32">): Tensor<"float32">;
}

export interface Postprocessor {
  readonly name: string;
  /** Transforms model outputs [N, K] (probabilities) before the caller sees them. */
  apply(probs: Tensor<"float32">): Tensor<"float32">;
}

export interface Detector {
  readonly name: string;
  /** One score per sample; higher means more likely adversarial. */
  score(x: Tensor<"float32">): Promise<Float32Array>;
  /** Scores at or above this are flagged (set at a chosen false-positive rate on clean data). */
  readonly threshold: number;
}
