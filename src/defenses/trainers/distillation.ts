/**
 * Defensive distillation — Papernot, McDaniel, Wu, Jha & Swami, "Distillation as a Defense
 * to Adversarial Perturbations against Deep Neural Networks", IEEE S&P 2016: a teacher is
 * trained with its softmax at temperature T, its soft labels softmax(z/T) on the training
 * set train a student of the same architecture at the same T, and the student is deployed
 * at T=1. Deployment at T=1 is just the student's own logits (the exported model is the
 * trained graph), so its logits are ~T times larger than a normal network's and its
 * softmax saturates: the cross-entropy gradient vanishes in float32 and gradient attacks
 * on the softmax loss fail. That is gradient masking, not robustness: Carlini & Wagner
 * ("Defensive Distillation is Not Robust to Adversarial Examples", 2016; "Towards
 * Evaluating the Robustness of Neural Networks", 2017) break it with losses on the logits
 * (C&W, PGD on the margin loss). Default T=100, the paper's MNIST setting.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { OnnxClassifier } from "../../engine/classifier.js";
import type { Loss } from "../../engine/losses.js";
import type { Optimizer } from "../../engine/optimizers.js";
import type { TrainingData } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { attr } from "../../onnx/ir.js";
import { float32, type Tensor } from "../../tensor.js";
import { CHECKPOINT_FILE, type HardeningEpoch, type HardeningOptions, runHardening } from "./hardening.js";

/** Cross-entropy −Σₖ tₖ·log softmax(z/T)ₖ: training "at temperature T". */
export function temperatureCrossEntropy(temperature: number): Loss {
  if (!(temperature > 0)) throw new AegisError("BAD_OPTION", `--temperature must be positive, got ${temperature}`);
  return {
    name: `ce@T=${temperature}`,
    build(b, { logits, targets }) {
      const scaled = b.op("Mul", [logits, b.scalar(1 / temperature)]);
      const logp = b.op("LogSoftmax", [scaled], { axis: attr.int(1) });
      return b.op("Neg", [b.reduceSum(b.op("Mul", [targets, logp]), [1], false)]);
    },
  };
}

/** softmax(z/T) of the model's logits for every sample: the teacher's soft labels. */
export async function softLabels(model: OnnxClassifier, x: Tensor<"float32">, temperature: number): Promise<Tensor<"float32">> {
  const out = (await model.predict(x)).data;
  const k = model.numClasses;
  const p = new Float32Array(out.length);
  for (let s = 0; s < out.length; s += k) {
    // A model that outputs probabilities: log p serves as logits (softmax is shift-invariant).
    const z = (j: number) => (model.outputKind === "logits" ? out[s + j] : Math.log(Math.max(out[s + j], 1e-30))) / temperature;
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < k; j++) max = Math.max(max, z(j));
    let sum = 0;
    for (let j = 0; j < k; j++) sum += p[s + j] = Math.exp(z(j) - max);
    for (let j = 0; j < k; j++) p[s + j] /= sum;
  }
  return float32([x.shape[0], k], p);
}

export interface DistillationOptions extends Omit<HardeningOptions, "loss" | "transform" | "optimizer" | "checkpointDir" | "resume"> {
  /** Softmax temperature of teacher and student training (paper: 100 for MNIST). */
  temperature: number;
  /** A fresh optimizer for each of the two trainings. */
  optimizer: () => Optimizer;
  /** Checkpoints go to <dir>/teacher and <dir>/student. */
  checkpointDir?: string;
  resume?: boolean;
  onPhase?: (phase: "teacher" | "student") => void;
}

/** Trains the teacher at T on the labels, then the student at T on the teacher's soft labels. */
export async function defensiveDistillation(
  teacher: OnnxClassifier,
  student: OnnxClassifier,
  data: TrainingData & { labels: readonly number[] },
  options: DistillationOptions,
): Promise<{ teacher: HardeningEpoch[]; student: HardeningEpoch[] }> {
  const { temperature, optimizer, checkpointDir, resume, onPhase, ...common } = options;
  const loss = temperatureCrossEntropy(temperature);
  const phase = async (name: "teacher" | "student", model: OnnxClassifier, phaseData: TrainingData, phaseResume: boolean) => {
    onPhase?.(name);
    return runHardening(model, phaseData, {
      ...common,
      loss,
      optimizer: optimizer(),
      checkpointDir: checkpointDir ? join(checkpointDir, name) : undefined,
      resume: phaseResume,
      fingerprint: { ...common.fingerprint, temperature, phase: name },
    });
  };
  const teacherHistory = await phase("teacher", teacher, { x: data.x, labels: data.labels }, resume ?? false);
  const targets = await softLabels(teacher, data.x, temperature);
  // A run interrupted before the student's first checkpoint starts the student afresh.
  const studentResume = (resume ?? false) && checkpointDir !== undefined && existsSync(join(checkpointDir, "student", CHECKPOINT_FILE));
  const studentHistory = await phase("student", student, { x: data.x, targets }, studentResume);
  return { teacher: teacherHistory, student: studentHistory };
}
