/**
 * The shape every poisoning attack shares (ART's "poisoning" family): a function from a
 * labelled training set to a poisoned one, plus a manifest of what was done — the rows
 * changed, the trigger, the goal — that only the evaluation reads (`aegis audit --backdoor`,
 * `aegis inspect-data --manifest`). Attacks that craft their poisons with a model (the
 * clean-label backdoor's robust proxy, the surrogate of feature collision and gradient
 * matching) take it in their context.
 */
import type { Rng } from "../../data/random.js";
import type { OnnxClassifier } from "../../engine/classifier.js";
import type { Progress } from "../../progress.js";
import type { Tensor } from "../../tensor.js";
import type { FeatureConstraints } from "../types.js";
import type { TriggerSpec } from "./trigger.js";

/** What the poisoned model should do, for measuring the attack success rate. */
export type PoisonGoal =
  /** Triggered inputs go to `target` (all-to-one), or class y to (y + 1) mod K (all-to-all). */
  | { kind: "backdoor"; target: number; mode: "all-to-one" | "all-to-all" }
  /** Specific inputs (held in the manifest) go to `adversarial_class`. */
  | { kind: "targeted"; adversarial_class: number; targets: EncodedInputs }
  /** Inputs of class `source` go to `target` (targeted flipping); both null for random flipping (accuracy loss). */
  | { kind: "label-flip"; source: number | null; target: number | null }
  /** Rows of class `positive_class` that match every condition of the pattern are classified as `benign_class`. */
  | { kind: "blind-spot"; pattern: RowPattern[]; positive_class: number; benign_class: number };

/** A condition on one feature of a tabular row: feature `feature` compared with `value`. */
export interface RowPattern {
  feature: number;
  op: "=" | "<=" | ">=";
  value: number;
  /** The feature's name, when known (for reports). */
  name?: string;
}

/** Inputs stored in a manifest: float32 values, little-endian, base64. */
export interface EncodedInputs {
  shape: number[];
  base64: string;
  /** Their true labels. */
  labels: number[];
}

export interface PoisonManifest {
  format: "aegis-poison";
  version: 1;
  aegis: string;
  created: string;
  attack: string;
  paper: string;
  params: Record<string, unknown>;
  data: { source: string; rows: number; sample_shape: number[]; num_classes: number };
  goal: PoisonGoal;
  /** The trigger a backdoor answers to; null for attacks without one. */
  trigger: TriggerSpec | null;
  /** Rows of the poisoned set that the attack changed or added, ascending. */
  poisoned: number[];
  /** The label each poisoned row had before the attack (its own label for clean-label and injected rows). */
  original_labels: number[];
}

export interface PoisonContext {
  rng: Rng;
  /** The model the attack crafts its poisons with, when it needs one. */
  model?: OnnxClassifier;
  /** Tabular attacks that add rows: the constraints a valid row obeys. */
  constraints?: FeatureConstraints;
  /** Targeted attacks: the inputs (from outside the training set) the poisoned model should get wrong. */
  targets?: { x: Tensor<"float32">; labels: number[] };
  /** Stops crafting after the current step. */
  signal?: AbortSignal;
  progress?: Progress;
}

export interface PoisonData {
  x: Tensor<"float32">;
  labels: number[];
  numClasses: number;
  /** Where the data came from (for the manifest). */
  source: string;
}

export interface PoisonResult {
  x: Tensor<"float32">;
  labels: number[];
  manifest: PoisonManifest;
}

export interface PoisoningAttack<P extends object = Record<string, unknown>> {
  readonly name: string;
  readonly title: string;
  /** Authors, year and title of the paper the file implements. */
  readonly paper: string;
  /** Whether the attack crafts with a model (context.model). */
  readonly needsModel: boolean;
  readonly defaults: P;
  /** One line per parameter, for `aegis poison --help-attack`. */
  readonly help: Readonly<Record<keyof P & string, string>>;
  poison(data: PoisonData, params: P, context: PoisonContext): Promise<PoisonResult>;
}
