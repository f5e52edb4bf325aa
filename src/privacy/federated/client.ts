/**
 * A client's round: start from the global parameters, train on the client's own data, and
 * return the change (local − global) with the number of examples it came from.
 *
 * - FedAvg (McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from
 *   Decentralized Data"): E local epochs of minibatch SGD with batch B. Defaults E = 2,
 *   B = 32, learning rate 0.1: the paper's MNIST runs used B = 10 and tuned the rate; a
 *   larger batch runs faster per example on ONNX Runtime.
 * - FedProx (Li et al. 2020, "Federated Optimization in Heterogeneous Networks"): the local
 *   objective gains (μ/2)‖w − w_global‖². The engine's one-run training step bakes the
 *   optimizer into the ONNX graph and knows nothing of w_global, so FedProx runs its own
 *   step: the loss gradients come from the classifier's gradient graph, the proximal
 *   gradient μ(w − w_global) is added in TypeScript, then the optimizer applies the update.
 *   μ = 0 is FedAvg and takes the faster in-graph step.
 *
 * Batches are full batches only (the last partial batch of an epoch is dropped, as Keras'
 * drop_remainder), so one compiled graph serves every client whatever its data size.
 */
import { type BatchSampler, type OnnxClassifier, type StepFunction, sgd, train } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import type { Tensor } from "../../tensor.js";
import { readParameters, writeParameters } from "./parameters.js";

export interface ClientData {
  x: Tensor<"float32">;
  labels: readonly number[];
}

export interface LocalTrainingOptions {
  /** Local epochs E (default 2). */
  epochs?: number;
  /** Local batch size B (default 32). */
  batchSize?: number;
  /** Local SGD learning rate (default 0.1). */
  lr?: number;
  /** FedProx's proximal weight μ (default 0: FedAvg). */
  mu?: number;
  seed?: number;
  signal?: AbortSignal;
}

export interface ClientUpdate {
  /** local − global, flat. */
  delta: Float32Array;
  /** Training examples behind the update (FedAvg's weight). */
  examples: number;
  /** Mean training loss of the last local epoch. */
  loss: number;
}

export const LOCAL_DEFAULTS = { epochs: 2, batchSize: 32, lr: 0.1, mu: 0 } as const;

/** Trains `classifier` (trainable) from `global` on `data`; leaves the local parameters in it. */
export async function localUpdate(
  classifier: OnnxClassifier,
  global: Float32Array,
  data: ClientData,
  options: LocalTrainingOptions = {},
): Promise<ClientUpdate> {
  const epochs = options.epochs ?? LOCAL_DEFAULTS.epochs;
  const batchSize = options.batchSize ?? LOCAL_DEFAULTS.batchSize;
  const mu = options.mu ?? LOCAL_DEFAULTS.mu;
  if (data.x.shape[0] === 0) throw new AegisError("BAD_DATA", "the client has no training examples; give it data or leave it out of the federation");
  if (!(mu >= 0)) throw new AegisError("BAD_OPTION", `FedProx's μ must be 0 or more, not ${mu}`);
  writeParameters(classifier, global);
  const history = await train(classifier, data, {
    epochs,
    batchSize,
    optimizer: sgd({ lr: options.lr ?? LOCAL_DEFAULTS.lr }),
    seed: options.seed,
    signal: options.signal,
    sampler: fullBatches(batchSize),
    step: mu > 0 ? proximalStep(global, mu) : undefined,
  });
  const delta = readParameters(classifier);
  for (let i = 0; i < delta.length; i++) delta[i] -= global[i];
  return { delta, examples: data.x.shape[0], loss: history.at(-1)?.loss ?? Number.NaN };
}

/** Shuffled full batches; a client with fewer examples than a batch trains on all of them at once. */
function fullBatches(batchSize: number): BatchSampler {
  return (n, rng) => {
    const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    if (n <= batchSize) return [order];
    return Array.from({ length: Math.floor(n / batchSize) }, (_, b) => order.slice(b * batchSize, (b + 1) * batchSize));
  };
}

/** FedProx's step: ∇loss + μ(w − w_global), then the optimizer. */
function proximalStep(global: Float32Array, mu: number): StepFunction {
  return async (classifier, batch, optimizer, loss) => {
    const result = await classifier.evaluate(batch.x, batch.targets, { loss, wrt: { params: true }, weights: batch.weights });
    const grads = result.paramGrads as Map<string, Float32Array>;
    let offset = 0;
    for (const p of classifier.parameters) {
      const g = grads.get(p.name) as Float32Array;
      for (let i = 0; i < g.length; i++) g[i] += mu * (p.value[i] - global[offset + i]);
      offset += p.value.length;
    }
    optimizer.step(classifier.parameters, grads);
    return { loss: result.loss, total: result.total, output: result.output };
  };
}
