/**
 * `aegis repair`: repairs a backdoored model with the defender's clean data — fine-pruning
 * (fine-pruning.ts) or Neural Cleanse unlearning (unlearning.ts, with the triggers of an
 * `aegis inspect-model` report or reversed here) — and measures clean accuracy and, given
 * the poison manifest, the attack success rate on held-out data before and after, since a
 * repair that removes the backdoor by wrecking the model is no repair. Retraining without
 * the rows a data inspection flagged builds a new model instead: retrain.ts.
 */
import { type CompiledTrigger, imageOf, type PoisonManifest, poisonSuccess } from "../../attacks/index.js";
import type { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import type { Progress } from "../../progress.js";
import { sliceRows, type Tensor } from "../../tensor.js";
import { type NeuralCleanseOptions, neuralCleanse } from "../inspection/neural-cleanse.js";
import { accuracy, FINE_PRUNING_PAPER, type FinePruningOptions, type FinePruningResult, finePruning } from "./fine-pruning.js";
import { UNLEARNING_PAPER, type UnlearningOptions, unlearnTriggers } from "./unlearning.js";

export const REPAIR_METHODS = ["fine-pruning", "unlearning"] as const;
export type RepairMethod = (typeof REPAIR_METHODS)[number];

export type LabelledData = { x: Tensor<"float32">; labels: readonly number[] };

export interface RepairOptions {
  method: RepairMethod;
  /** Held-out labelled data the before and after numbers are measured on. */
  test: LabelledData;
  /** The poison manifest (evaluation only): adds the attack success rate. */
  manifest?: PoisonManifest;
  /** Unlearning: the reversed triggers to unlearn (default: Neural Cleanse's flagged classes, reversed on the clean data). */
  triggers?: { class: number; trigger: CompiledTrigger }[];
  neuralCleanse?: NeuralCleanseOptions;
  finePruning?: FinePruningOptions;
  unlearning?: UnlearningOptions;
  progress?: Progress;
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface RepairMeasure {
  clean_accuracy: number;
  /** With a manifest: the share of triggered inputs sent where the attacker wanted. */
  attack_success_rate?: number;
}

export interface RepairResult {
  method: RepairMethod;
  paper: string;
  test_samples: number;
  before: RepairMeasure;
  after: RepairMeasure;
  fine_pruning?: FinePruningResult;
  unlearning?: { classes: number[]; stamped: number };
}

/** Clean accuracy on `test`, and with a manifest the attack success rate. */
export async function measureRepair(model: OnnxClassifier, test: LabelledData, manifest?: PoisonManifest): Promise<RepairMeasure> {
  if (manifest) {
    const s = await poisonSuccess(model, test, manifest);
    return { clean_accuracy: s.clean_accuracy, attack_success_rate: s.attack_success_rate };
  }
  return { clean_accuracy: await accuracy(model, test) };
}

/** Repairs `model` (created with `trainable: true`) in place with the clean labelled data. */
export async function repairBackdoor(model: OnnxClassifier, clean: LabelledData, options: RepairOptions): Promise<RepairResult> {
  if (!REPAIR_METHODS.includes(options.method))
    throw new AegisError("BAD_OPTION", `the repair must be ${REPAIR_METHODS.join(" or ")}, not "${options.method}"`);
  if (model.parameters.length === 0) throw new Error("repairBackdoor needs a classifier created with trainable: true");
  if (options.manifest && options.manifest.goal.kind !== "backdoor")
    throw new AegisError(
      "BAD_OPTION",
      `the manifest describes a ${options.manifest.goal.kind} attack; backdoor repairs are measured against a backdoor's manifest`,
    );
  const log = options.log ?? (() => {});
  const before = await measureRepair(model, options.test, options.manifest);
  const base = { test_samples: options.test.x.shape[0], before };
  if (options.method === "fine-pruning") {
    // Liu et al. stop pruning on held-out clean inputs: the last fifth of the clean data (at most 500), the rest is tuned on.
    const held = Math.min(500, Math.floor(clean.x.shape[0] / 5));
    const n = clean.x.shape[0] - held;
    if (held < 20) throw new AegisError("BAD_DATA", `fine-pruning needs at least 100 clean labelled inputs; --data has ${clean.x.shape[0]}`);
    const tune = { x: sliceRows(clean.x, 0, n), labels: clean.labels.slice(0, n) };
    const validation = { x: sliceRows(clean.x, n, n + held), labels: clean.labels.slice(n) };
    const result = await finePruning(model, tune, validation, { ...options.finePruning, signal: options.signal });
    log(`pruned ${result.pruned.length} of ${result.channels} channels of ${result.layer}, then fine-tuned`);
    return {
      method: "fine-pruning",
      paper: FINE_PRUNING_PAPER,
      ...base,
      after: await measureRepair(model, options.test, options.manifest),
      fine_pruning: result,
    };
  }
  let triggers = options.triggers;
  if (!triggers) {
    log("reversing a trigger per class with Neural Cleanse (aegis inspect-model --format json saves them for reuse)");
    const found = await neuralCleanse(model, clean.x, { ...options.neuralCleanse, progress: options.progress, signal: options.signal });
    const layout = imageOf(clean.x.shape.slice(1));
    triggers = found.triggers.filter((t) => t.flagged).map((t) => ({ class: t.class, trigger: { layout, mask: t.mask, pattern: t.pattern } }));
  }
  if (triggers.length === 0)
    throw new AegisError(
      "NOT_FOUND",
      "Neural Cleanse flags no class of this model, so there is no trigger to unlearn; if you still suspect a backdoor, use aegis repair fine-pruning",
    );
  const classes = triggers.map((t) => t.class);
  log(`unlearning the reversed trigger${classes.length > 1 ? "s" : ""} of class ${classes.join(", ")}`);
  const { stamped } = await unlearnTriggers(
    model,
    clean,
    triggers.map((t) => t.trigger),
    { ...options.unlearning, signal: options.signal },
  );
  return {
    method: "unlearning",
    paper: UNLEARNING_PAPER,
    ...base,
    after: await measureRepair(model, options.test, options.manifest),
    unlearning: { classes, stamped },
  };
}
