/**
 * The shape every extraction attack shares (ART's ExtractionAttack, as plain functions): it
 * spends at most the oracle's budget of queries and returns a stolen model. An attack says
 * whether it needs natural data of its own ("thief data") and which output modes it can
 * work from; the runner (run.ts) evaluates the stolen models it hands over at checkpoints,
 * which gives the curve of accuracy and fidelity against queries spent.
 */
import type { Rng } from "../../data/random.js";
import type { Classifier, Labels, OnnxClassifier } from "../../engine/index.js";
import type { Tensor } from "../../tensor.js";
import type { ObservedOutput, QueryOracle } from "./oracle.js";
import type { StolenModelSpec } from "./stolen-model.js";

export interface ExtractionContext {
  rng: Rng;
  /** Stops the attack at its next query or training step (it then throws INTERRUPTED). */
  signal?: AbortSignal;
  /** Query counts at which the attack hands its current stolen model to onCheckpoint, for the curve. */
  checkpoints?: readonly number[];
  /** Sees each checkpoint's stolen model; the attack releases the model afterwards unless it is the result. */
  onCheckpoint?: (queries: number, stolen: Classifier) => Promise<void>;
  /** A line about what the attack is doing (a round, a phase). */
  onStatus?: (message: string) => void;
}

export interface ExtractionInput {
  /** The attacker's own unlabelled data: natural images of the task, or of another distribution. */
  thief?: Tensor<"float32">;
  /** The attacker's own categories of that data (Knockoff's adaptive policy), not the victim's labels. */
  thiefLabels?: Labels;
  /** The architecture of the stolen model. */
  stolen: StolenModelSpec;
}

export interface ExtractionResult {
  stolen: OnnxClassifier;
  /** Queries spent, at most the budget. */
  queries: number;
  /** Facts about the run a report should show (rounds run, policy at the end…). */
  notes: string[];
}

/** Targets the stolen model learns from: the answers as given, or their top class only. */
export type TargetKind = "soft" | "hard";

// biome-ignore lint/suspicious/noExplicitAny: each attack has its own parameters
export interface ExtractionAttack<P extends Record<string, unknown> = any> {
  readonly name: string;
  readonly title: string;
  /** Authors, year and title of the paper the file implements. */
  readonly paper: string;
  /** Whether the attack needs thief data ("natural"), or makes its own queries ("none"). */
  readonly data: "natural" | "none";
  /** The output modes the attack can work from. */
  readonly outputs: readonly ObservedOutput[];
  readonly defaults: P;
  /** One line per parameter. */
  readonly help: Readonly<Record<keyof P & string, string>>;
  run(oracle: QueryOracle, input: ExtractionInput, params: P, context: ExtractionContext): Promise<ExtractionResult>;
}
