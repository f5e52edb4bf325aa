/**
 * What a thief does to a marked model to strip the mark, as Adi et al. 2018 and the
 * later removal studies measure it:
 * - fine-tuning all layers on a little of the task's data (the paper's FTAL) with Adam;
 * - re-training on the same data after drawing the last layer afresh (the paper's RTLL: only
 *   that layer trained; RTAL: every layer), which forgets the marked classifier head;
 * - magnitude pruning: the smallest |w| of each weight matrix and kernel set to zero (Han
 *   et al. 2015; Uchida et al. 2017 prune watermarked models this way), biases kept;
 * - extraction: a copy trained by Copycat (Correia-Silva et al. 2018) from the marked
 *   model's answers on the thief's natural data, which never contains a trigger.
 * Each returns a model the verifier then queries; the model's accuracy on the task shows
 * what the removal cost the thief. watermarkRobustness runs the ones asked for in a row.
 */
import { copycat, runExtraction } from "../../attacks/index.js";
import { adam, OnnxClassifier, type RuntimeOptions, reinitialise, train } from "../../engine/index.js";
import { countCorrect } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { cloneModel, DataType, type Model } from "../../onnx/ir.js";
import type { Tensor } from "../../tensor.js";
import { type TriggerSet, verifyWatermark, type WatermarkVerification } from "./watermark.js";

export interface FineTuneOptions {
  epochs: number;
  batchSize: number;
  learningRate: number;
  seed: number;
  runtime?: RuntimeOptions;
  signal?: AbortSignal;
}

/** The model after fine-tuning every layer on `data` (the thief's labelled share of the task). */
export function fineTuneModel(model: Model, data: { x: Tensor<"float32">; labels: readonly number[] }, options: FineTuneOptions): Promise<Model> {
  return trainFrom(model, data, options);
}

/** Adi et al.'s re-training: RTLL trains only the fresh last layer, RTAL every layer. */
export const RETRAIN_METHODS = ["rtll", "rtal"] as const;
export type RetrainMethod = (typeof RETRAIN_METHODS)[number];

/**
 * The model after drawing its last layer (the final Gemm or MatMul with its bias) afresh
 * and training on `data`: that layer alone ("rtll"), or every layer ("rtal").
 */
export function retrainModel(
  model: Model,
  data: { x: Tensor<"float32">; labels: readonly number[] },
  method: RetrainMethod,
  options: FineTuneOptions,
): Promise<Model> {
  const last = lastLayerInitializers(model);
  const fresh = new Map(reinitialise(model, options.seed).model.graph.initializers.map((t) => [t.name, t]));
  const restarted = cloneModel(model);
  restarted.graph.initializers = restarted.graph.initializers.map((t) => (last.includes(t.name) ? (fresh.get(t.name) ?? t) : t));
  return trainFrom(restarted, data, options, method === "rtll" ? last : undefined);
}

/** The weight and bias initializers of the model's last Gemm or MatMul (+ Add) layer. */
export function lastLayerInitializers(model: Model): string[] {
  const initializers = new Set(model.graph.initializers.map((t) => t.name));
  const nodes = model.graph.nodes;
  for (let i = nodes.length - 1; i >= 0; i--) {
    const node = nodes[i];
    if ((node.opType !== "Gemm" && node.opType !== "MatMul") || !initializers.has(node.inputs[1])) continue;
    if (node.opType === "Gemm") return node.inputs.slice(1).filter((name) => initializers.has(name));
    const bias = nodes.find((n) => n.opType === "Add" && n.inputs.includes(node.outputs[0]))?.inputs.find((name) => initializers.has(name));
    return bias ? [node.inputs[1], bias] : [node.inputs[1]];
  }
  throw new AegisError("BAD_MODEL", "the model has no fully connected last layer (Gemm or MatMul with stored weights) to re-initialise");
}

/**
 * Trains `model` on `data` with Adam; with `only`, the other parameters and statistics are
 * put back after every step, so that only the named ones learn.
 */
async function trainFrom(
  model: Model,
  data: { x: Tensor<"float32">; labels: readonly number[] },
  options: FineTuneOptions,
  only?: readonly string[],
): Promise<Model> {
  const classifier = await OnnxClassifier.create(model, { ...options.runtime, trainable: true, batchSize: options.batchSize });
  try {
    const frozen = only ? [...classifier.parameters, ...classifier.statistics].filter((p) => !only.includes(p.name)) : [];
    const kept = frozen.map((p) => Float32Array.from(p.value));
    const putBack = () => {
      for (const [i, p] of frozen.entries()) p.value.set(kept[i]);
    };
    await train(classifier, data, {
      epochs: options.epochs,
      batchSize: options.batchSize,
      optimizer: adam({ lr: options.learningRate }),
      seed: options.seed,
      signal: options.signal,
      onStep: frozen.length > 0 ? putBack : undefined,
    });
    return classifier.exportModel();
  } finally {
    await classifier.release();
  }
}

/** The model with the `fraction` smallest-magnitude weights of each weight tensor (2 or more dimensions) set to zero. */
export function pruneByMagnitude(model: Model, fraction: number): Model {
  if (!(fraction >= 0 && fraction < 1)) throw new AegisError("BAD_OPTION", `the pruned fraction must be in [0, 1), not ${fraction}`);
  const pruned = cloneModel(model);
  pruned.graph.initializers = pruned.graph.initializers.map((t) => {
    if (t.dataType !== DataType.FLOAT || t.dims.length < 2) return t;
    const values = Float32Array.from(t.data as Float32Array);
    const cut = Math.floor(values.length * fraction);
    if (cut === 0) return t;
    const order = Array.from(values.keys()).sort((a, b) => Math.abs(values[a]) - Math.abs(values[b]));
    for (const i of order.slice(0, cut)) values[i] = 0;
    return { ...t, data: values };
  });
  return pruned;
}

export interface ExtractionRemovalOptions {
  /** Victim queries the thief spends (at most the thief data's rows). */
  budget: number;
  epochs: number;
  seed: number;
  /** Test data the copy's fidelity is measured on. */
  test: { x: Tensor<"float32">; labels: readonly number[] };
  runtime?: RuntimeOptions;
  signal?: AbortSignal;
}

/** A copy of the marked model stolen by Copycat from its probabilities on the thief's data, in the marked model's architecture. */
export async function stealWithCopycat(
  model: Model,
  thief: Tensor<"float32">,
  options: ExtractionRemovalOptions,
): Promise<{ model: Model; fidelity: number; accuracy?: number; queries: number }> {
  const victim = await OnnxClassifier.create(model, { ...options.runtime });
  try {
    const run = await runExtraction(
      copycat,
      victim,
      { thief, stolen: { architecture: "like", victimModel: model, seed: options.seed, runtime: options.runtime } },
      { ...copycat.defaults, epochs: options.epochs },
      { budget: options.budget, test: { x: options.test.x, labels: [...options.test.labels] }, transfer: false, seed: options.seed, signal: options.signal },
    );
    const stolen = run.result.stolen.exportModel();
    await run.result.stolen.release();
    return { model: stolen, fidelity: run.report.fidelity, accuracy: run.report.accuracy, queries: run.report.queries };
  } finally {
    await victim.release();
  }
}

export interface RobustnessOptions {
  triggers: TriggerSet;
  numClasses: number;
  threshold?: number;
  /** Labelled test data: what each removal leaves of the model's accuracy. */
  test: { x: Tensor<"float32">; labels: readonly number[] };
  /**
   * Fine-tuning every layer on the thief's labelled data, once per entry of `epochs`; then
   * each `retrain` method for as many epochs, on the same data.
   */
  fineTune?: {
    data: { x: Tensor<"float32">; labels: readonly number[] };
    epochs: readonly number[];
    learningRate: number;
    batchSize: number;
    retrain?: readonly RetrainMethod[];
  };
  /** Fractions of each weight tensor to prune. */
  prune?: readonly number[];
  /** Copycat copies from the thief's natural data, one per budget. */
  copycat?: { thief: Tensor<"float32">; budgets: readonly number[]; epochs: number };
  seed?: number;
  runtime?: RuntimeOptions;
  signal?: AbortSignal;
  /** Sees each row as it is measured. */
  onRow?: (row: RobustnessRow) => void;
}

export interface RobustnessRow {
  removal: "none" | "fine-tune" | RetrainMethod | "prune" | "copycat";
  /** Epochs, the pruned fraction or the query budget. */
  setting?: number;
  /** Accuracy on the test data after the removal. */
  accuracy: number;
  /** A copy's agreement with the marked model on the test data. */
  fidelity?: number;
  verification: WatermarkVerification;
  seconds: number;
}

/** The marked model, then each removal the options ask for, each verified against the triggers. */
export async function watermarkRobustness(marked: Model, options: RobustnessOptions): Promise<RobustnessRow[]> {
  const rows: RobustnessRow[] = [];
  const seed = options.seed ?? 0;
  const measure = async (removal: RobustnessRow["removal"], setting: number | undefined, model: Model, started: number, fidelity?: number) => {
    const classifier = await OnnxClassifier.create(model, { ...options.runtime });
    try {
      const accuracy = countCorrect(await classifier.predict(options.test.x), options.test.labels) / options.test.labels.length;
      const verification = await verifyWatermark(classifier, options.triggers, { numClasses: options.numClasses, threshold: options.threshold });
      const row = { removal, setting, accuracy, fidelity, verification, seconds: (performance.now() - started) / 1000 };
      rows.push(row);
      options.onRow?.(row);
    } finally {
      await classifier.release();
    }
  };
  await measure("none", undefined, marked, performance.now());
  const { fineTune, copycat: extraction, runtime, signal } = options;
  if (fineTune)
    for (const method of ["fine-tune", ...(fineTune.retrain ?? [])] as const)
      for (const epochs of fineTune.epochs) {
        const started = performance.now();
        const training = { epochs, batchSize: fineTune.batchSize, learningRate: fineTune.learningRate, seed, runtime, signal };
        const tuned =
          method === "fine-tune" ? await fineTuneModel(marked, fineTune.data, training) : await retrainModel(marked, fineTune.data, method, training);
        await measure(method, epochs, tuned, started);
      }
  for (const fraction of options.prune ?? []) await measure("prune", fraction, pruneByMagnitude(marked, fraction), performance.now());
  if (extraction)
    for (const budget of extraction.budgets) {
      const started = performance.now();
      const stolen = await stealWithCopycat(marked, extraction.thief, { budget, epochs: extraction.epochs, seed, test: options.test, runtime, signal });
      await measure("copycat", budget, stolen.model, started, stolen.fidelity);
    }
  return rows;
}
