/**
 * The model an extraction attack trains: one of Aegis's own architectures (mlp, cnn,
 * resnet-small), or — for the attacker who knows it, as Papernot et al. and Orekondy et al.
 * also study — the victim's own architecture with fresh weights (`aegis train --like`).
 * It learns from the victim's answers with the soft cross-entropy −Σ p·log q (Hinton et
 * al.'s distillation at temperature 1; on one-hot answers the ordinary cross-entropy), with
 * Adam, on the engine's one-run training steps, at a constant learning rate or annealed by
 * a cosine (Loshchilov & Hutter 2017, SGDR). Two choices of the attacker's own, off unless
 * the schedule asks for them (Copycat and Knockoff ask for temperature 2):
 * - a distillation temperature T: answers and copy both softened to softmax(z/T) (Hinton et
 *   al. 2015; the answers' log-probabilities stand for the victim's logits z), which weighs
 *   the victim's small probabilities, the "dark knowledge", more than T = 1 does (one-hot
 *   answers, which have none, train at T = 1);
 * - shifting a share of each batch's images by one pixel in a random direction, each keeping
 *   the answer for the unshifted image (no query is spent on the shifted ones).
 */
import {
  type Architecture,
  adam,
  type BatchTransform,
  buildArchitecture,
  type Loss,
  type ModelInfo,
  OnnxClassifier,
  type RuntimeOptions,
  reinitialise,
  train,
} from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { attr, type Model } from "../../onnx/ir.js";
import { imageLayout } from "../../report/images.js";
import { float32, type Tensor } from "../../tensor.js";
import { moveImage } from "../inference/observations.js";

export interface StolenModelSpec {
  /** An Aegis architecture, or "like": the victim's graph re-initialised (needs `victimModel`). */
  architecture: Architecture | "like";
  /** The victim's ONNX graph, when the attacker knows it. */
  victimModel?: Model;
  /** Seed of the initial weights and of the shuffling. */
  seed: number;
  runtime?: RuntimeOptions;
}

export interface TrainingSchedule {
  epochs: number;
  batchSize: number;
  learningRate: number;
  /** "cosine": the learning rate annealed towards 0 over the epochs (Loshchilov & Hutter 2017); default constant. */
  decay?: LearningRateDecay;
  /** Distillation temperature (default 1: the answers as they are). */
  temperature?: number;
  /** Share of each batch's images shifted by one pixel (default 0). */
  shift?: number;
}

export const LEARNING_RATE_DECAYS = ["cosine", "none"] as const;
export type LearningRateDecay = (typeof LEARNING_RATE_DECAYS)[number];

/** A fresh, trainable stolen model of the victim's input shape and classes. */
export async function createStolenModel(victim: ModelInfo, spec: StolenModelSpec, batchSize: number): Promise<OnnxClassifier> {
  let model: Model;
  if (spec.architecture === "like") {
    if (!spec.victimModel) {
      throw new AegisError(
        "BAD_OPTION",
        "a stolen model like the victim needs the victim's ONNX graph; give --like VICTIM.onnx, or an architecture with --arch",
      );
    }
    model = reinitialise(spec.victimModel, spec.seed).model;
  } else {
    model = buildArchitecture(spec.architecture, { inputShape: victim.inputShape, numClasses: victim.numClasses, seed: spec.seed });
  }
  const stolen = await OnnxClassifier.create(model, { ...spec.runtime, trainable: true, batchSize, clipRange: [victim.clipRange[0], victim.clipRange[1]] });
  if (stolen.numClasses !== victim.numClasses) {
    await stolen.release();
    throw new AegisError("BAD_OPTION", `the stolen model's architecture has ${stolen.numClasses} outputs but the victim has ${victim.numClasses} classes`);
  }
  return stolen;
}

/**
 * The schedule's choices, refused before any query is spent when Aegis does not know them
 * or they do not fit the victim's inputs.
 */
export function checkSchedule(schedule: TrainingSchedule, inputShape: readonly number[]): void {
  const decay = schedule.decay ?? "none";
  if (!(LEARNING_RATE_DECAYS as readonly string[]).includes(decay))
    throw new AegisError("BAD_OPTION", `decay must be ${LEARNING_RATE_DECAYS.join(" or ")}, not "${decay}"`);
  const { temperature = 1, shift = 0 } = schedule;
  if (!(temperature > 0)) throw new AegisError("BAD_OPTION", `temperature must be a positive number, not ${temperature}`);
  if (!(shift >= 0 && shift <= 1)) throw new AegisError("BAD_OPTION", `shift is the share of images shifted, in [0, 1], not ${shift}`);
  if (shift > 0 && !imageLayout(inputShape))
    throw new AegisError("BAD_OPTION", `shift moves images, but the victim's samples have shape [${inputShape.join(", ")}]; use shift=0`);
}

/** Cross-entropy between the answers and the copy, both softened to temperature T. */
function softenedCrossEntropy(temperature: number): Loss {
  return {
    name: `ce-t${temperature}`,
    build(b, { logits, targets }) {
      const logp = b.op("LogSoftmax", [b.op("Div", [logits, b.scalar(temperature)])], { axis: attr.int(1) });
      return b.op("Neg", [b.reduceSum(b.op("Mul", [targets, logp]), [1], false)]);
    },
  };
}

/** Rows summing to 1, raised to the power 1/T and renormalised: softmax(log p / T). */
export function soften(answers: Tensor<"float32">, temperature: number): Tensor<"float32"> {
  const [n, k] = answers.shape;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const row = answers.data.subarray(i * k, (i + 1) * k);
    const logs = Array.from(row, (p) => Math.log(Math.max(p, 1e-30)) / temperature);
    const top = Math.max(...logs);
    const weights = logs.map((l) => Math.exp(l - top));
    const sum = weights.reduce((a, w) => a + w, 0);
    for (let j = 0; j < k; j++) out[i * k + j] = weights[j] / sum;
  }
  return float32([n, k], out);
}

/** Shifts `share` of each batch's images by one pixel in one of the eight directions, drawn from the trainer's generator. */
export function shiftShare(share: number, inputShape: readonly number[]): BatchTransform {
  const layout = imageLayout(inputShape);
  if (!layout) throw new AegisError("BAD_OPTION", "shift needs image samples");
  const moves: [number, number][] = [-1, 0, 1].flatMap((dy) => [-1, 0, 1].map((dx): [number, number] => [dx, dy])).filter(([dx, dy]) => dx !== 0 || dy !== 0);
  return async (batch, { rng }) => {
    const out = Float32Array.from(batch.x.data);
    for (let i = 0; i < batch.x.shape[0]; i++) {
      if (rng.next() >= share) continue;
      const [dx, dy] = moves[Math.floor(rng.next() * moves.length)];
      moveImage(batch.x.data, out, i, layout, { dx, dy, flip: false });
    }
    return { ...batch, x: float32(batch.x.shape, out) };
  };
}

/** Trains the stolen model on the victim's answers (rows summing to 1). */
export async function fitStolen(
  stolen: OnnxClassifier,
  x: Tensor<"float32">,
  answers: Tensor<"float32">,
  schedule: TrainingSchedule,
  seed: number,
  signal?: AbortSignal,
): Promise<void> {
  if (x.shape[0] === 0) return;
  checkSchedule(schedule, stolen.inputShape);
  const { shift = 0 } = schedule;
  // One-hot answers (a label-only API, hard targets) have no small probabilities to soften.
  const temperature = answers.data.every((p) => p === 0 || p === 1) ? 1 : (schedule.temperature ?? 1);
  const optimizer = adam({ lr: schedule.learningRate });
  // Cosine annealing: the epoch after epoch e runs at lr·(1 + cos(π·e/E))/2.
  const onEpoch =
    schedule.decay === "cosine"
      ? ({ epoch }: { epoch: number }) => {
          optimizer.learningRate = (schedule.learningRate * (1 + Math.cos((Math.PI * epoch) / schedule.epochs))) / 2;
        }
      : undefined;
  await train(
    stolen,
    { x, targets: temperature === 1 ? answers : soften(answers, temperature) },
    {
      epochs: schedule.epochs,
      batchSize: schedule.batchSize,
      optimizer,
      seed,
      signal,
      onEpoch,
      loss: temperature === 1 ? undefined : softenedCrossEntropy(temperature),
      transform: shift > 0 ? shiftShare(shift, stolen.inputShape) : undefined,
    },
  );
}

/** A stolen model trained from scratch on one transfer set: the same seed gives the same model for the same data. */
export async function trainStolen(
  victim: ModelInfo,
  spec: StolenModelSpec,
  schedule: TrainingSchedule,
  data: { x: Tensor<"float32">; answers: Tensor<"float32"> },
  signal?: AbortSignal,
): Promise<OnnxClassifier> {
  const stolen = await createStolenModel(victim, spec, schedule.batchSize);
  try {
    await fitStolen(stolen, data.x, data.answers, schedule, spec.seed, signal);
  } catch (e) {
    await stolen.release();
    throw e;
  }
  return stolen;
}
