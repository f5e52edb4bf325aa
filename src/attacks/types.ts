/**
 * The shape every evasion attack shares (Foolbox 3 style: functions over a batch, one
 * attack per file with its paper named). An attack declares the model capabilities it
 * needs, so `aegis attack --list` can tell which attacks apply to a model.
 */
import type { Rng } from "../data/random.js";
import type { Capability, Labels } from "../engine/capabilities.js";
import type { InputKind } from "../engine/input-kind.js";
import type { Tensor } from "../tensor.js";

/** Lp norms of a perturbation of continuous values. */
export type LpNorm = "inf" | "2" | "1";
/** Every norm an attack can bound: the Lp norms, and "0", the number of changed elements (the tokens a text attack substitutes). */
export type Norm = LpNorm | "0";

export type { Capability };

export interface AttackContext {
  rng: Rng;
  /** Stops the attack after its current step; what is finished is returned. */
  signal?: AbortSignal;
  /** Called as samples finish (done out of total). */
  onProgress?: (done: number, total: number) => void;
  /** What the model's input is, when the caller knows it from the graph (the audit does); otherwise attacks guess from the sample's shape. */
  inputKind?: InputKind;
}

export interface AttackOutput {
  /** Adversarial examples, same shape as the input. */
  x: Tensor<"float32">;
  /** Model queries spent per sample (black-box attacks). */
  queries?: Int32Array;
}

/**
 * Constraints of tabular data (the fraud-detection case), on the flattened features of
 * one sample; attacks project every iterate onto them (see constraints.ts).
 */
export interface FeatureConstraints {
  /** The features' names, when the constraints file gives them. */
  names?: readonly string[];
  /** Per-feature bounds, tighter than the model's clip range. */
  lower?: Float32Array;
  upper?: Float32Array;
  /** Features the attacker cannot change (e.g. account age). */
  immutable?: readonly number[];
  /** Features that only take whole numbers (counts). */
  integer?: readonly number[];
  /** Groups of features that one-hot encode a category: exactly one is 1. */
  oneHot?: readonly (readonly number[])[];
}

/** Parameters every attack understands; each attack adds its own. */
export interface CommonParams {
  eps: number;
  norm: Norm;
  /** When true, `y` holds target classes to reach instead of true labels to leave. */
  targeted: boolean;
  constraints?: FeatureConstraints;
}

export interface Attack<P extends CommonParams = CommonParams, M = unknown> {
  readonly name: string;
  readonly title: string;
  /** Authors, year and title of the paper the file implements. */
  readonly paper: string;
  readonly needs: readonly Capability[];
  /** The kinds of input it means something on (default: every continuous one, CONTINUOUS_INPUTS). */
  readonly inputs?: readonly InputKind[];
  /** It optimises one perturbation over all its samples together (a universal perturbation, a patch), so they cannot be split into shards. */
  readonly joint?: boolean;
  readonly norms: readonly Norm[];
  readonly defaults: P;
  /** One line per parameter, for `--help-attack`. */
  readonly help: Readonly<Record<Exclude<keyof P & string, "constraints">, string>>;
  run(model: M, x: Tensor<"float32">, y: Labels, params: P, context: AttackContext): Promise<AttackOutput>;
}
