/**
 * The small classifier some attacks train on features they computed (Shokri et al.'s attack
 * model, the attribute-inference baseline): Aegis's MLP on standardised features, trained
 * with Adam by the engine. A fifth of the rows (seeded) is held out, and the weights of the
 * epoch that classifies it best are kept, so a small training set does not make the
 * classifier worse than a constant guess. Standardisation happens here rather than in the
 * graph, so that the engine trains the weights only.
 */
import { createRng } from "../../data/random.js";
import { buildArchitecture } from "../../engine/architectures.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { adam } from "../../engine/optimizers.js";
import { probabilitiesOf } from "../../engine/probabilities.js";
import { argmaxRow, countCorrect, train } from "../../engine/trainer.js";
import { float32, type Tensor } from "../../tensor.js";

export interface AttackModelOptions {
  classes: number;
  /** Epochs at most. */
  epochs: number;
  seed: number;
  /** Repeat the rows of rarer classes so that every class weighs the same in training. */
  balance?: boolean;
}

export interface AttackModel {
  /** Class probabilities [N, classes] of feature rows [N, F]. */
  probabilities(features: Float32Array, rows: number): Promise<Float32Array>;
  /** Accuracy on the held-out rows at the kept epoch (balanced accuracy with `balance`). */
  validationAccuracy: number;
  /** The same measure for always answering the most frequent class. */
  majorityAccuracy: number;
  release(): Promise<void>;
}

export async function fitAttackModel(features: Float32Array, labels: readonly number[], o: AttackModelOptions): Promise<AttackModel> {
  const n = labels.length;
  const width = features.length / n;
  const order = createRng(o.seed).shuffle(Array.from({ length: n }, (_, i) => i));
  const heldOut = order.slice(0, Math.floor(n / 5));
  const fitted = order.slice(heldOut.length);
  const { mean, sd } = moments(features, width, fitted);
  const standardise = (x: Float32Array, rows: readonly number[]): Tensor<"float32"> => {
    const out = new Float32Array(rows.length * width);
    for (const [r, i] of rows.entries()) for (let f = 0; f < width; f++) out[r * width + f] = (x[i * width + f] - mean[f]) / sd[f];
    return float32([rows.length, width], out);
  };
  const trainRows = o.balance ? balancedRows(fitted, labels, o.classes) : fitted;
  const trainingSet = { x: standardise(features, trainRows), labels: trainRows.map((i) => labels[i]) };
  const validation = { x: standardise(features, heldOut), labels: heldOut.map((i) => labels[i]) };
  const model = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [width], numClasses: o.classes, seed: o.seed }), {
    trainable: true,
    clipRange: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
  });
  const optimizer = adam({ lr: 1e-3 });
  let best = { accuracy: -1, weights: [] as Float32Array[] };
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    // One epoch per call, the optimizer's state carried over, so every epoch can be scored.
    await train(model, trainingSet, { epochs: 1, batchSize: 128, optimizer, seed: o.seed + epoch });
    const accuracy = heldOut.length > 0 ? score(await model.predict(validation.x), validation.labels, o.classes, o.balance ?? false) : 0;
    if (accuracy > best.accuracy) best = { accuracy, weights: model.parameters.map((p) => Float32Array.from(p.value)) };
  }
  for (const [k, p] of model.parameters.entries()) p.value.set(best.weights[k]);
  const counts = new Array<number>(o.classes).fill(0);
  for (const l of validation.labels) counts[l]++;
  const present = counts.filter((c) => c > 0).length;
  return {
    probabilities: async (f, count) => {
      const rows = Array.from({ length: count }, (_, i) => i);
      return probabilitiesOf(model, await model.predict(standardise(f, rows))).data;
    },
    validationAccuracy: best.accuracy,
    majorityAccuracy: heldOut.length === 0 ? 0 : o.balance ? 1 / present : Math.max(...counts) / heldOut.length,
    release: () => model.release(),
  };
}

/** Accuracy, or with `balanced` the mean of the per-class accuracies (the classes present). */
function score(output: Tensor<"float32">, labels: readonly number[], classes: number, balanced: boolean): number {
  if (!balanced) return countCorrect(output, labels) / labels.length;
  const correct = new Array<number>(classes).fill(0);
  const total = new Array<number>(classes).fill(0);
  labels.forEach((l, i) => {
    total[l]++;
    if (argmaxRow(output, i) === l) correct[l]++;
  });
  const recalls = total.flatMap((t, c) => (t > 0 ? [correct[c] / t] : []));
  return recalls.reduce((a, b) => a + b, 0) / recalls.length;
}

/** Per-feature mean and standard deviation over `rows` (1 where a feature is constant). */
function moments(features: Float32Array, width: number, rows: readonly number[]): { mean: Float64Array; sd: Float64Array } {
  const mean = new Float64Array(width);
  const sd = new Float64Array(width);
  for (const i of rows) for (let f = 0; f < width; f++) mean[f] += features[i * width + f] / rows.length;
  for (const i of rows) for (let f = 0; f < width; f++) sd[f] += (features[i * width + f] - mean[f]) ** 2 / rows.length;
  for (let f = 0; f < width; f++) sd[f] = Math.sqrt(sd[f]) || 1;
  return { mean, sd };
}

/** `rows` with every class repeated as often as the most frequent one. */
function balancedRows(rows: readonly number[], labels: readonly number[], classes: number): number[] {
  const byClass: number[][] = Array.from({ length: classes }, () => []);
  for (const i of rows) byClass[labels[i]].push(i);
  const most = Math.max(...byClass.map((c) => c.length));
  return byClass.flatMap((members) => (members.length === 0 ? [] : Array.from({ length: most }, (_, k) => members[k % members.length])));
}
