/**
 * Fine-pruning — Liu, Dolan-Gavitt & Garg, "Fine-Pruning: Defending Against Backdooring
 * Attacks on Deep Neural Networks", RAID 2018. A backdoor tends to live in neurons that
 * clean inputs leave dormant, so: average each channel of the last convolutional layer's
 * activation over clean inputs, prune the channels in increasing order of that average
 * until clean accuracy on held-out clean inputs would fall by more than 4 points (the
 * paper's stopping rule), then fine-tune the pruned model on the clean data. Pruning zeroes
 * the channel's filter and bias; they are zeroed again before every fine-tuning step and
 * after the last, so fine-tuning cannot bring a pruned channel back.
 */

import type { OnnxClassifier } from "../../engine/classifier.js";
import { createFeatureExtractor } from "../../engine/features.js";
import { adam } from "../../engine/optimizers.js";
import { countCorrect, train } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import type { Model } from "../../onnx/ir.js";
import type { Tensor } from "../../tensor.js";
import { withDefaults } from "../settings.js";

export const FINE_PRUNING_PAPER = "Liu, Dolan-Gavitt & Garg 2018, Fine-Pruning: Defending Against Backdooring Attacks on Deep Neural Networks";

export interface FinePruningOptions {
  /** Largest clean-accuracy loss pruning may cause, as a share (Liu et al.: 0.04). */
  maxAccuracyDrop?: number;
  /** Fine-tuning epochs over the clean data. */
  epochs?: number;
  learningRate?: number;
  batchSize?: number;
  seed?: number;
  signal?: AbortSignal;
}

export const FINE_PRUNING_DEFAULTS: Required<Omit<FinePruningOptions, "signal">> = {
  maxAccuracyDrop: 0.04,
  epochs: 2,
  learningRate: 1e-4,
  batchSize: 64,
  seed: 0,
};

export interface FinePruningResult {
  /** The convolution whose channels were pruned, and the value its activity was read from. */
  layer: string;
  activation: string;
  channels: number;
  /** Pruned channels, most dormant first. */
  pruned: number[];
  /** Clean accuracy on the validation inputs before pruning, after pruning, after fine-tuning. */
  validation_accuracy: { before: number; pruned: number; fine_tuned: number };
}

type LabelledData = { x: Tensor<"float32">; labels: readonly number[] };

const ACTIVATIONS = new Set(["Relu", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Clip"]);

/** The last Conv of the graph, its weight and bias names, and the value that holds its activation. */
export function lastConvolution(model: Model): { node: string; weight: string; bias?: string; activation: string } {
  const convs = model.graph.nodes.filter((n) => n.opType === "Conv");
  const conv = convs.at(-1);
  if (!conv)
    throw new AegisError(
      "UNSUPPORTED",
      "fine-pruning prunes the channels of the last convolutional layer, and this model has no Conv; use aegis repair unlearning",
    );
  const out = conv.outputs[0];
  const consumers = model.graph.nodes.filter((n) => n.inputs.includes(out));
  const activation = consumers.length === 1 && ACTIVATIONS.has(consumers[0].opType) ? consumers[0].outputs[0] : out;
  return { node: conv.name || out, weight: conv.inputs[1], bias: conv.inputs[2] || undefined, activation };
}

/** The share of `data` the model classifies right. */
export async function accuracy(model: OnnxClassifier, data: LabelledData): Promise<number> {
  return countCorrect(await model.predict(data.x), data.labels) / Math.max(1, data.x.shape[0]);
}

/**
 * Prunes and fine-tunes `model` (created with `trainable: true`) in place. `clean` is the
 * defender's clean training data, `validation` held-out clean inputs for the stopping rule.
 */
export async function finePruning(
  model: OnnxClassifier,
  clean: LabelledData,
  validation: LabelledData,
  options: FinePruningOptions = {},
): Promise<FinePruningResult> {
  const o = withDefaults(FINE_PRUNING_DEFAULTS, options);
  const site = lastConvolution(model.exportModel());
  const param = (name: string | undefined) => model.parameters.find((p) => p.name === name);
  if (!param(site.weight)) throw new AegisError("UNSUPPORTED", `the last convolution's weight "${site.weight}" is not a float initializer that can be pruned`);
  const channels = param(site.weight)?.shape[0] ?? 0;
  const filter = channels > 0 ? (param(site.weight)?.value.length ?? 0) / channels : 0;
  const zero = (channel: number) => {
    param(site.weight)?.value.fill(0, channel * filter, (channel + 1) * filter);
    const bias = param(site.bias);
    if (bias) bias.value[channel] = 0;
  };

  const extractor = await createFeatureExtractor(model.exportModel(), { ...model.runtimeOptions, layer: site.activation, pooling: "mean" });
  let mean: Float64Array;
  try {
    const { features } = await extractor.extract(clean.x);
    mean = new Float64Array(channels);
    const n = clean.x.shape[0];
    for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) mean[c] += features.data[i * channels + c] / n;
  } finally {
    await extractor.release();
  }
  const order = Array.from({ length: channels }, (_, c) => c).sort((a, b) => mean[a] - mean[b]);

  const before = await accuracy(model, validation);
  const pruned: number[] = [];
  let prunedAccuracy = before;
  for (const channel of order.slice(0, channels - 1)) {
    if (options.signal?.aborted) throw new AegisError("INTERRUPTED", "fine-pruning was interrupted");
    const saved = { weight: param(site.weight)?.value.slice(channel * filter, (channel + 1) * filter), bias: param(site.bias)?.value[channel] };
    zero(channel);
    const now = await accuracy(model, validation);
    if (before - now > o.maxAccuracyDrop) {
      // One channel too far: put it back and stop, as the paper does.
      if (saved.weight) param(site.weight)?.value.set(saved.weight, channel * filter);
      const bias = param(site.bias);
      if (bias && saved.bias !== undefined) bias.value[channel] = saved.bias;
      break;
    }
    pruned.push(channel);
    prunedAccuracy = now;
  }

  await train(model, clean, {
    epochs: o.epochs,
    batchSize: o.batchSize,
    optimizer: adam({ lr: o.learningRate }),
    seed: o.seed,
    signal: options.signal,
    transform: async (batch) => {
      for (const c of pruned) zero(c);
      return batch;
    },
  });
  for (const c of pruned) zero(c);
  return {
    layer: site.node,
    activation: site.activation,
    channels,
    pruned,
    validation_accuracy: { before, pruned: prunedAccuracy, fine_tuned: await accuracy(model, validation) },
  };
}
