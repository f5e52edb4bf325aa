/**
 * The training loop every trainer in Aegis shares (standard, adversarial, distillation,
 * surrogate and shadow models, DP-SGD): shuffled mini-batches, a pluggable batch transform
 * (e.g. "replace x by an attack on x" for adversarial training) and a pluggable loss;
 * each step — gradients and the optimizer's update — is one ONNX Runtime call
 * (training-step.ts). DP-SGD plugs in its own sampler (Poisson) and step (clipped, noised).
 */
import { createRng, type Rng } from "../data/random.js";
import { AegisError } from "../errors.js";
import { gatherRows, type Tensor } from "../tensor.js";
import type { LossName } from "./capabilities.js";
import type { OnnxClassifier } from "./classifier.js";
import { type Loss, lossByName } from "./losses.js";
import type { Optimizer } from "./optimizers.js";
import { type StepBatch, type StepResult, trainingStep } from "./training-step.js";

export interface TrainingBatch {
  x: Tensor<"float32">;
  /** Targets [B, K]: one-hot labels or soft labels. */
  targets: Tensor<"float32">;
  /** Hard labels where known (argmax of the targets otherwise). */
  labels: number[];
  /**
   * Per-sample weights of the summed loss (default 1/B each: the batch mean). A transform
   * may append rows (TRADES: [x; x′]); its first rows stay the original samples.
   */
  weights?: Float32Array;
}

export interface BatchContext {
  /** The model being trained, with its current weights (attacks can run on it). */
  classifier: OnnxClassifier;
  epoch: number;
  step: number;
  rng: Rng;
}

export type BatchTransform = (batch: TrainingBatch, context: BatchContext) => Promise<TrainingBatch>;

/** An epoch's batches as lists of row indices into the n training samples. */
export type BatchSampler = (n: number, rng: Rng) => number[][];

/** One update of the classifier's parameters from a batch; trainingStep by default. */
export type StepFunction = (classifier: OnnxClassifier, batch: StepBatch, optimizer: Optimizer, loss: Loss, seed?: number) => Promise<StepResult>;

/**
 * The default sampler: a shuffle cut into batches of `batchSize` rows (the last one shorter).
 * Each epoch shuffles the previous epoch's order again.
 */
export function shuffledBatches(batchSize: number): BatchSampler {
  let order: number[] = [];
  return (n, rng) => {
    if (order.length !== n) order = Array.from({ length: n }, (_, i) => i);
    rng.shuffle(order);
    return Array.from({ length: Math.ceil(n / batchSize) }, (_, step) => order.slice(step * batchSize, (step + 1) * batchSize));
  };
}

export interface TrainingData {
  x: Tensor<"float32">;
  /** Integer labels, or… */
  labels?: readonly number[];
  /** …soft targets [N, K] (distillation). */
  targets?: Tensor<"float32">;
}

export interface EpochStats {
  epoch: number;
  /** Mean training loss over the epoch. */
  loss: number;
  /** Accuracy on the training batches as they were seen (before each update). */
  accuracy: number;
  validationLoss?: number;
  validationAccuracy?: number;
  seconds: number;
  samplesPerSecond: number;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  optimizer: Optimizer;
  seed?: number;
  loss?: LossName | Loss;
  transform?: BatchTransform;
  validation?: { x: Tensor<"float32">; labels: readonly number[] };
  /** Called after every step, e.g. for a progress bar. */
  onStep?: (info: { epoch: number; step: number; steps: number; loss: number }) => void;
  onEpoch?: (stats: EpochStats) => void | Promise<void>;
  /** Stops after the current step; train() then throws INTERRUPTED. */
  signal?: AbortSignal;
  /** How batches are drawn (default shuffledBatches(batchSize)). */
  sampler?: BatchSampler;
  /** How a batch updates the model (default trainingStep). */
  step?: StepFunction;
}

export async function train(classifier: OnnxClassifier, data: TrainingData, options: TrainOptions): Promise<EpochStats[]> {
  if (classifier.parameters.length === 0) throw new Error("train() needs a classifier created with trainable: true");
  const n = data.x.shape[0];
  const targetsAll = data.targets ?? classifier.oneHot(data.labels ?? []);
  if (targetsAll.shape[0] !== n) throw new AegisError("BAD_DATA", `${n} samples but ${targetsAll.shape[0]} labels`);
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) throw new AegisError("BAD_OPTION", "--batch-size must be a positive integer");
  const loss = typeof options.loss === "object" ? options.loss : lossByName(options.loss ?? "ce");
  const rng = createRng(options.seed ?? 0);
  const sample = options.sampler ?? shuffledBatches(options.batchSize);
  const step = options.step ?? trainingStep;
  const history: EpochStats[] = [];

  for (let epoch = 1; epoch <= options.epochs; epoch++) {
    const started = performance.now();
    const batches = sample(n, rng);
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    for (const [index, rows] of batches.entries()) {
      if (options.signal?.aborted) throw new AegisError("INTERRUPTED", "training was interrupted; no model was written");
      let batch: TrainingBatch = {
        x: gatherRows(data.x, rows),
        targets: gatherRows(targetsAll, rows),
        labels: rows.map((r) => (data.labels ? data.labels[r] : argmaxRow(targetsAll, r))),
      };
      // A Poisson-sampled batch may be empty; the step still runs (DP-SGD adds its noise).
      if (options.transform && rows.length > 0) batch = await options.transform(batch, { classifier, epoch, step: index, rng });
      const m = rows.length;
      const weights = batch.weights ?? new Float32Array(batch.x.shape[0]).fill(1 / Math.max(1, batch.x.shape[0]));
      const result = await step(classifier, { x: batch.x, targets: batch.targets, weights }, options.optimizer, loss, options.seed);
      lossSum += result.total * m;
      correct += countCorrect(result.output, batch.labels.slice(0, m));
      seen += m;
      options.onStep?.({ epoch, step: index + 1, steps: batches.length, loss: result.total });
    }
    const seconds = (performance.now() - started) / 1000;
    const stats: EpochStats = {
      epoch,
      loss: lossSum / Math.max(1, seen),
      accuracy: correct / Math.max(1, seen),
      seconds,
      samplesPerSecond: seen / seconds,
    };
    if (options.validation) {
      const v = await classifier.evaluate(options.validation.x, classifier.oneHot(options.validation.labels), { loss: "ce" });
      stats.validationLoss = v.total / options.validation.labels.length;
      stats.validationAccuracy = countCorrect(v.output, options.validation.labels) / options.validation.labels.length;
    }
    history.push(stats);
    await options.onEpoch?.(stats);
  }
  return history;
}

export function argmaxRow(t: Tensor<"float32">, row: number): number {
  const k = t.shape[1];
  let best = 0;
  for (let j = 1; j < k; j++) if (t.data[row * k + j] > t.data[row * k + best]) best = j;
  return best;
}

export function countCorrect(outputs: Tensor<"float32">, labels: readonly number[]): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (argmaxRow(outputs, i) === labels[i]) correct++;
  return correct;
}
