/**
 * Fast adversarial training — Wong, Rice & Kolter, "Fast is better than free: Revisiting
 * adversarial training", ICLR 2020: each batch is replaced by one FGSM step of size α
 * from a uniformly random start in the L∞ ε-ball, projected back onto the ball, with a
 * cyclic (triangular) learning rate. Paper defaults for MNIST: ε=0.3, α=0.375 (1.25·ε),
 * Adam with the rate rising from 0 to 5e-3 at 2/5 of the run and back to 0, 10 epochs.
 * FGSM training can collapse into "catastrophic overfitting" (robust accuracy against
 * PGD falls to ~0 within an epoch while FGSM accuracy soars); the paper detects it with
 * PGD on a training minibatch and stops early. `overfittingCheck` does that after every
 * epoch: it flags a drop of more than 20 points of PGD accuracy on a fixed small batch,
 * restores the weights of the previous epoch and stops the run. The check keeps its
 * reference in memory: in the first epoch after a --resume it has none to compare with.
 */
import { fgsm, pgd } from "../../attacks/index.js";
import { createRng } from "../../data/random.js";
import { type BatchTransform, countCorrect } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, type Tensor } from "../../tensor.js";
import { checkAttackOptions } from "./adversarial-training.js";
import type { AfterEpoch } from "./hardening.js";

export interface FastAdversarialTrainingOptions {
  /** L∞ radius (paper: 0.3 for MNIST). */
  eps: number;
  /** FGSM step α (paper: 1.25·ε, i.e. 0.375 for MNIST). */
  epsStep: number;
}

export function fastAdversarialTraining(options: FastAdversarialTrainingOptions): BatchTransform {
  checkAttackOptions({ ...options, maxIter: 1 });
  const { eps, epsStep } = options;
  return async (batch, { classifier, rng }) => {
    const [lo, hi] = classifier.clipRange;
    const x = batch.x.data;
    const start = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) start[i] = Math.min(hi, Math.max(lo, x[i] + (2 * rng.next() - 1) * eps));
    const params = { ...fgsm.defaults, eps: epsStep, batchSize: batch.x.shape[0] };
    const { x: stepped } = await fgsm.run(classifier, float32(batch.x.shape, start), batch.labels, params, { rng });
    const adv = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) adv[i] = Math.min(x[i] + eps, Math.max(x[i] - eps, stepped.data[i]));
    return { ...batch, x: float32(batch.x.shape, adv) };
  };
}

/** The paper's cyclic schedule at time t (in epochs) of a run of `epochs` epochs. */
export function cyclicLearningRate(lrMax: number, epochs: number): (t: number) => number {
  if (!(lrMax > 0)) throw new AegisError("BAD_OPTION", `--lr must be positive, got ${lrMax}`);
  const peak = (epochs * 2) / 5;
  return (t) => (t <= peak ? (lrMax * t) / peak : (lrMax * Math.max(0, epochs - t)) / (epochs - peak));
}

export interface OverfittingCheckOptions {
  x: Tensor<"float32">;
  labels: readonly number[];
  eps: number;
  /** PGD iterations of the check (default 10). */
  maxIter?: number;
  /** A drop of PGD accuracy larger than this between epochs is catastrophic (default 0.2, as the paper). */
  maxDrop?: number;
  seed?: number;
}

/** After-epoch hook for runHardening: PGD accuracy on a small batch, rollback and stop on a collapse. */
export function overfittingCheck(o: OverfittingCheckOptions): AfterEpoch {
  let previous: { accuracy: number; weights: Float32Array[] } | undefined;
  return async (epoch, classifier) => {
    const maxIter = o.maxIter ?? 10;
    const params = { ...pgd.defaults, eps: o.eps, epsStep: (2.5 * o.eps) / maxIter, maxIter };
    const { x: adv } = await pgd.run(classifier, o.x, o.labels, params, { rng: createRng((o.seed ?? 0) + epoch) });
    const accuracy = countCorrect(await classifier.predict(adv), o.labels) / o.labels.length;
    if (previous && previous.accuracy - accuracy > (o.maxDrop ?? 0.2)) {
      const restored = previous.weights;
      for (const [i, p] of classifier.parameters.entries()) p.value.set(restored[i]);
      return { notes: { checkPgdAccuracy: accuracy, catastrophicOverfitting: true }, stop: true };
    }
    previous = { accuracy, weights: classifier.parameters.map((p) => Float32Array.from(p.value)) };
    return { notes: { checkPgdAccuracy: accuracy, catastrophicOverfitting: false }, stop: false };
  };
}
