/**
 * The prompt-injection classifier as an ONNX graph Aegis builds and trains with its own
 * engine: logistic regression, or one hidden ReLU layer (Rumelhart, Hinton & Williams
 * 1986), over the hashed features of features.ts, trained with Adam (Kingma & Ba 2015) by
 * src/engine train(). Rows are weighted by 1/√(rows of their source), then the two labels
 * are balanced, so that a few large sources do not dictate the decision boundary: the model
 * must learn what attacks from many origins share rather than one corpus's phrasing.
 */
import { createRng } from "../../data/random.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { adam } from "../../engine/optimizers.js";
import { train } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { GraphBuilder } from "../../onnx/builder.js";
import { attr, DataType, emptyModel, type Model } from "../../onnx/ir.js";
import { float32 } from "../../tensor.js";
import { AEGIS_VERSION } from "../../version.js";
import { embedInjections } from "./augment.js";
import { featurizeAll } from "./features.js";
import type { LabelledText } from "./labelled-text.js";
import { syntheticRows } from "./synthetic.js";

export interface InjectionTrainOptions {
  /** Hidden units; 0 = logistic regression. */
  hidden?: number;
  epochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  seed?: number;
  /** Extra label-1 rows made by embedding short attacks of `rows` in benign contexts (augment.ts). */
  augment?: number;
  /** Scale of the generated training sets (synthetic.ts; 0 = none). */
  synthetic?: number;
  signal?: AbortSignal;
  onEpoch?: (epoch: number, loss: number) => void;
}

export const DEFAULT_TRAIN_OPTIONS = {
  // Logistic regression with weight decay: on sources held out whole it ranks better than a
  // hidden layer, whose probabilities saturate at 1 on unfamiliar benign styles (model card).
  hidden: 0,
  epochs: 4,
  batchSize: 128,
  lr: 0.01,
  weightDecay: 1e-4,
  seed: 7,
  augment: 300,
  synthetic: 1,
} as const;

const OPSET = 17;

/** The graph: input [batch, dim] → logits [batch, 2] (class 1 = injection). */
export function buildInjectionGraph(dim: number, hidden: number, seed: number): Model {
  const model: Model = {
    ...emptyModel(OPSET, "prompt-injection"),
    producerVersion: AEGIS_VERSION,
    modelVersion: 1,
    docString: "Aegis prompt-injection classifier",
  };
  const b = new GraphBuilder(model.graph, OPSET, "pi");
  const rng = createRng(seed);
  // PyTorch's default Linear initialisation, U(±1/√fan_in).
  const dense = (x: string, fanIn: number, fanOut: number, name: string): string => {
    const bound = 1 / Math.sqrt(fanIn);
    const w = b.namedInitializer(
      `${name}.weight`,
      DataType.FLOAT,
      [fanOut, fanIn],
      Float32Array.from({ length: fanIn * fanOut }, () => (rng.next() * 2 - 1) * bound),
    );
    const bias = b.namedInitializer(`${name}.bias`, DataType.FLOAT, [fanOut], new Float32Array(fanOut));
    return b.op("Gemm", [x, w, bias], { transB: attr.int(1) });
  };
  b.addInput("features", DataType.FLOAT, ["batch", dim]);
  const logits = hidden > 0 ? dense(b.op("Relu", [dense("features", dim, hidden, "fc1")]), hidden, 2, "fc2") : dense("features", dim, 2, "fc");
  b.node("Identity", [logits], {}, ["logits"]);
  b.addOutput("logits", DataType.FLOAT, ["batch", 2]);
  return model;
}

/** Per-row weights: 1/√(rows of the source), rescaled so each label carries half the total and the mean weight is 1. */
export function sourceBalancedWeights(rows: readonly Pick<LabelledText, "label" | "source">[]): Float32Array {
  const perSource = new Map<string, number>();
  for (const r of rows) perSource.set(r.source, (perSource.get(r.source) ?? 0) + 1);
  const raw = rows.map((r) => 1 / Math.sqrt(perSource.get(r.source) ?? 1));
  const labelTotal = [0, 0];
  raw.forEach((w, i) => {
    labelTotal[rows[i].label] += w;
  });
  if (labelTotal[0] === 0 || labelTotal[1] === 0) throw new AegisError("BAD_DATA", "training needs both injection (label 1) and benign (label 0) rows");
  return Float32Array.from(raw, (w, i) => (w * rows.length) / (2 * labelTotal[rows[i].label]));
}

/** Trains a fresh classifier on `rows` and their pre-computed features [n, dim] (featurizeAll). */
export async function trainInjectionClassifier(
  baseFeatures: Float32Array,
  baseRows: readonly LabelledText[],
  options: InjectionTrainOptions = {},
): Promise<OnnxClassifier> {
  const o = { ...DEFAULT_TRAIN_OPTIONS, ...options };
  const dim = baseFeatures.length / baseRows.length;
  const extra = [...embedInjections(baseRows, o.augment, o.seed), ...syntheticRows(o.synthetic, o.seed)];
  const rows = [...baseRows, ...extra];
  const features = new Float32Array(rows.length * dim);
  features.set(baseFeatures);
  features.set(featurizeAll(extra.map((r) => r.text)), baseFeatures.length);
  const n = rows.length;
  const classifier = await OnnxClassifier.create(buildInjectionGraph(dim, o.hidden, o.seed), { trainable: true, outputKind: "logits", batchSize: 512 });
  const weights = sourceBalancedWeights(rows);
  // Weighted cross-entropy through soft targets: −Σ w·onehot·log p = w·CE.
  const targets = new Float32Array(n * 2);
  rows.forEach((r, i) => {
    targets[i * 2 + r.label] = weights[i];
  });
  await train(
    classifier,
    { x: float32([n, dim], features), labels: rows.map((r) => r.label), targets: float32([n, 2], targets) },
    {
      epochs: o.epochs,
      batchSize: o.batchSize,
      optimizer: adam({ lr: o.lr, weightDecay: o.weightDecay }),
      seed: o.seed,
      signal: o.signal,
      onEpoch: (stats) => o.onEpoch?.(stats.epoch, stats.loss),
    },
  );
  return classifier;
}

/**
 * The scanner's score: noisy-OR of the classifier's probability and the heuristic score,
 * so a strong pattern match and a confident classifier each raise it and agreeing signals add up.
 */
export function combinedScore(probability: number, heuristic: number): number {
  return 1 - (1 - probability) * (1 - heuristic);
}

/** P(injection) for each row of features [n, dim]. */
export async function injectionProbabilities(classifier: OnnxClassifier, features: Float32Array, n: number): Promise<Float32Array> {
  const dim = features.length / n;
  const logits = await classifier.predict(float32([n, dim], features));
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(logits.data[i * 2] - logits.data[i * 2 + 1]));
  return out;
}
