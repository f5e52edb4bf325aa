/**
 * Gaussian data augmentation — Zantedeschi, Nicolae & Rawat, "Efficient Defenses Against
 * Adversarial Attacks", AISec 2017, and the training with noise of Cohen, Rosenfeld &
 * Kolter, "Certified Adversarial Robustness via Randomized Smoothing", ICML 2019: each
 * training input is replaced by x + N(0, σ²I) with a fresh draw every step, so the model
 * learns to classify the noisy inputs that randomized smoothing will feed it. As Cohen et
 * al. do, the noisy input is NOT clipped to the valid range (the smoothed classifier sees
 * unclipped noise too). `ratio` < 1 noises only that share of each (shuffled) batch, as
 * ART's GaussianAugmentation does with augmentation=False; Cohen et al. noise every sample.
 */
import type { BatchTransform } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { float32, sizeOf } from "../../tensor.js";

export interface GaussianAugmentationOptions {
  /** Standard deviation of the noise, in input units (Cohen et al.: 0.25, 0.5, 1.0). */
  sigma: number;
  /** Share of each batch that gets noise, in (0, 1] (default 1: every sample). */
  ratio?: number;
}

export function gaussianAugmentation(options: GaussianAugmentationOptions): BatchTransform {
  const { sigma } = options;
  const ratio = options.ratio ?? 1;
  if (!Number.isFinite(sigma) || sigma < 0) throw new AegisError("BAD_OPTION", `--sigma must be a non-negative number, got ${sigma}`);
  if (!(ratio > 0 && ratio <= 1)) throw new AegisError("BAD_OPTION", `--ratio must lie in (0, 1], got ${ratio}`);
  return async (batch, { rng }) => {
    const n = batch.x.shape[0];
    const row = sizeOf(batch.x.shape.slice(1));
    // Batches are already shuffled by the trainer, so their first rows are a random subset.
    const noisyRows = Math.round(ratio * n);
    const x = Float32Array.from(batch.x.data);
    for (let k = 0; k < noisyRows * row; k++) x[k] += sigma * rng.normal();
    return { ...batch, x: float32(batch.x.shape, x) };
  };
}
