/**
 * PGD adversarial training — Madry, Makelov, Schmidt, Tsipras & Vladu, "Towards Deep
 * Learning Models Resistant to Adversarial Attacks", ICLR 2018: the min-max problem
 * min_θ E max_{‖δ‖∞≤ε} L(θ, x+δ, y), the inner maximum approximated by PGD from a random
 * start in the ε-ball. Each batch is replaced by its PGD examples on the current weights,
 * or only a share `ratio` of it (the rest stays clean), as ART's AdversarialTrainer does.
 * Paper defaults for MNIST: ε=0.3, step 0.01, 40 iterations.
 * Deviations: (1) the inner maximisation is Aegis's `pgd` attack, which freezes a sample
 * at the first iterate that fools the model, so training sees the nearest misclassified
 * point rather than the loss maximum for samples the model gets wrong (the early-stopped
 * PGD of Zhang et al. 2020, "Attacks Which Do Not Kill Training Make Adversarial Learning
 * Stronger"); (2) an optional linear ε ramp over the first `rampEpochs` epochs, common
 * practice for ε=0.3 on small MNIST networks, which otherwise can stall at chance early on.
 */
import { pgd } from "../../attacks/index.js";
import type { BatchTransform } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, gatherRows, sizeOf } from "../../tensor.js";

export interface AdversarialTrainingOptions {
  /** L∞ radius (paper: 0.3 for MNIST). */
  eps: number;
  /** PGD step (paper: 0.01); scaled with ε during the ramp. */
  epsStep: number;
  /** PGD iterations (paper: 40). */
  maxIter: number;
  /** Share of each batch replaced by adversarial examples, in (0, 1] (default 1, as Madry et al.). */
  ratio?: number;
  /** ε grows linearly from ε/rampEpochs to ε over these epochs (default 0: no ramp). */
  rampEpochs?: number;
}

/** ε of an epoch (1-based) under a linear ramp over `rampEpochs` epochs. */
export function rampedEps(eps: number, epoch: number, rampEpochs = 0): number {
  return rampEpochs > 0 ? eps * Math.min(1, epoch / rampEpochs) : eps;
}

export function checkAttackOptions(o: { eps: number; epsStep: number; maxIter: number; ratio?: number }): void {
  if (!(o.eps > 0)) throw new AegisError("BAD_OPTION", `--eps must be positive, got ${o.eps}`);
  if (!(o.epsStep > 0)) throw new AegisError("BAD_OPTION", `--eps-step must be positive, got ${o.epsStep}`);
  if (!Number.isInteger(o.maxIter) || o.maxIter < 1) throw new AegisError("BAD_OPTION", `--max-iter must be a positive integer, got ${o.maxIter}`);
  const ratio = o.ratio ?? 1;
  if (!(ratio > 0 && ratio <= 1)) throw new AegisError("BAD_OPTION", `--ratio must lie in (0, 1], got ${ratio}`);
}

export function adversarialTraining(options: AdversarialTrainingOptions): BatchTransform {
  checkAttackOptions(options);
  const ratio = options.ratio ?? 1;
  return async (batch, { classifier, epoch, rng }) => {
    const n = batch.x.shape[0];
    const attacked = Math.round(ratio * n);
    if (attacked === 0) return batch;
    const eps = rampedEps(options.eps, epoch, options.rampEpochs);
    const scale = eps / options.eps;
    // The batch is shuffled, so its first rows are a random share of it.
    const rows = Array.from({ length: attacked }, (_, i) => i);
    const { x: adv } = await pgd.run(
      classifier,
      gatherRows(batch.x, rows),
      batch.labels.slice(0, attacked),
      { ...pgd.defaults, eps, epsStep: options.epsStep * scale, maxIter: options.maxIter, batchSize: attacked },
      { rng },
    );
    const x = Float32Array.from(batch.x.data);
    x.set(adv.data.subarray(0, attacked * sizeOf(batch.x.shape.slice(1))));
    return { ...batch, x: float32(batch.x.shape, x) };
  };
}
