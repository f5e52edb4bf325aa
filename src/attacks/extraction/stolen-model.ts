/**
 * The model an extraction attack trains: one of Aegis's own architectures (mlp, cnn,
 * resnet-small), or — for the attacker who knows it, as Papernot et al. and Orekondy et al.
 * also study — the victim's own architecture with fresh weights (`aegis train --like`).
 * It learns from the victim's answers with the soft cross-entropy −Σ p·log q (Hinton et
 * al.'s distillation at temperature 1; on one-hot answers the ordinary cross-entropy), with
 * Adam, on the engine's one-run training steps, at a constant learning rate or annealed by
 * a cosine (Loshchilov & Hutter 2017, SGDR).
 */
import { type Architecture, adam, buildArchitecture, type ModelInfo, OnnxClassifier, type RuntimeOptions, reinitialise, train } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import type { Model } from "../../onnx/ir.js";
import type { Tensor } from "../../tensor.js";

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

/** The decay, refused before any query is spent when it is not one Aegis knows. */
export function checkDecay(decay: string): LearningRateDecay {
  if (!(LEARNING_RATE_DECAYS as readonly string[]).includes(decay))
    throw new AegisError("BAD_OPTION", `decay must be ${LEARNING_RATE_DECAYS.join(" or ")}, not "${decay}"`);
  return decay as LearningRateDecay;
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
  const decay = checkDecay(schedule.decay ?? "none");
  const optimizer = adam({ lr: schedule.learningRate });
  // Cosine annealing: the epoch after epoch e runs at lr·(1 + cos(π·e/E))/2.
  const onEpoch =
    decay === "cosine"
      ? ({ epoch }: { epoch: number }) => {
          optimizer.learningRate = (schedule.learningRate * (1 + Math.cos((Math.PI * epoch) / schedule.epochs))) / 2;
        }
      : undefined;
  await train(stolen, { x, targets: answers }, { epochs: schedule.epochs, batchSize: schedule.batchSize, optimizer, seed, signal, onEpoch });
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
