/**
 * STRIP — Gao, Xu, Wang, Chen, Ranasinghe & Nepal, "STRIP: A Defence Against Trojan
 * Attacks on Deep Neural Networks", ACSAC 2019. An input is superimposed on N clean images
 * and the model classifies each copy; the mean Shannon entropy (bits) of the N predictions
 * is low when a trigger dominates whatever it is mixed with, and high for a clean input,
 * whose prediction follows the overlay. The score is −entropy (higher = more suspicious),
 * flagged at a threshold chosen at a false-rejection rate on clean inputs. Defaults from the
 * paper: N = 100 overlays, 1% false rejections.
 *
 * The superimposition is the authors' `cv2.addWeighted(background, 1, overlay, 1, 0)` on
 * 8-bit images: a pixel-wise sum that saturates at white. Here it saturates at the range of
 * the clean overlays (their smallest and largest values), whatever the model's scale. An
 * unsaturated sum (what Aegis did before) leaves strokes at twice the range the model was
 * trained on; on the held-out PyTorch backdoors of fixtures/backdoor it flagged 93.5% of the
 * checkerboard's and 86.6% of the blend's triggered digits at 5.3–5.7% false positives,
 * the saturating sum 100% of both at 3.3–4.3% (chosen on the checkerboard model, the blend
 * held out; a 50% blend, ART's, 97.7% and 95.3%).
 *
 * Deviations: the N overlays are one fixed bank drawn from the clean data at fit time (the
 * paper draws them afresh from a held-out set for every input), so scores are reproducible
 * and the bank is saved with the detector; the threshold is the empirical quantile of the
 * clean scores rather than a normal distribution fitted to them, whose left tail the skewed
 * entropies of MNIST do not follow.
 *
 * ART's STRIP (art/estimators/poison_mitigation/strip/strip.py) calls
 * `scipy.stats.entropy(predictions, base=2, axis=0)`: the entropy of each class's column
 * over the N copies, not of each copy's prediction, blends at 50% instead of summing, and
 * uses N = 20 — its notebook's 30.2% true-positive rate measures that, not STRIP.
 */
import type { Predictor } from "../../engine/capabilities.js";
import { probabilitiesOf } from "../../engine/probabilities.js";
import { AegisError } from "../../errors.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import type { Detector } from "../types.js";
import { thresholdAtFpr } from "./threshold.js";

export const STRIP_DEFAULTS = { overlays: 100, fpr: 0.01 };

export interface StripDetector extends Detector {
  readonly name: "strip";
  /** The clean images inputs are superimposed on [N, …sample]. */
  readonly overlays: Tensor<"float32">;
  /** The false-positive rate the threshold was fitted at (NaN when given directly). */
  readonly fpr: number;
}

/** How a saved detector superimposes (files without it summed without saturating and must be fitted again). */
export const STRIP_SUPERIMPOSITION = "saturating-sum";

/**
 * Mean prediction entropy (bits) of each input superimposed on every overlay (their sum,
 * saturating at the overlays' range): the STRIP statistic, low for inputs whose prediction a
 * trigger fixes.
 */
export async function superimpositionEntropy(model: Predictor, x: Tensor<"float32">, overlays: Tensor<"float32">): Promise<Float64Array> {
  const n = x.shape[0];
  const m = overlays.shape[0];
  const row = sizeOf(x.shape.slice(1));
  if (sizeOf(overlays.shape.slice(1)) !== row) throw new AegisError("SHAPE_MISMATCH", `STRIP's overlays have another sample shape than the inputs`);
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const v of overlays.data) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const entropy = new Float64Array(n);
  // About 2,048 superimposed copies per model call group.
  const chunk = Math.max(1, Math.floor(2048 / m));
  for (let start = 0; start < n; start += chunk) {
    const end = Math.min(n, start + chunk);
    const copies = new Float32Array((end - start) * m * row);
    for (let i = start; i < end; i++)
      for (let j = 0; j < m; j++) {
        const at = ((i - start) * m + j) * row;
        for (let k = 0; k < row; k++) copies[at + k] = Math.min(high, Math.max(low, x.data[i * row + k] + overlays.data[j * row + k]));
      }
    const probs = probabilitiesOf(model, await model.predict(float32([(end - start) * m, ...x.shape.slice(1)], copies)));
    const k = probs.shape[1];
    for (let i = start; i < end; i++) {
      let h = 0;
      for (let j = 0; j < m; j++) {
        const at = ((i - start) * m + j) * k;
        for (let c = 0; c < k; c++) {
          const p = probs.data[at + c];
          if (p > 0) h -= p * Math.log2(p);
        }
      }
      entropy[i] = h / m;
    }
  }
  return entropy;
}

/** A detector with a known bank and threshold (loaded from a file, or set by hand). */
export function stripDetector(model: Predictor, overlays: Tensor<"float32">, options: { threshold: number; fpr?: number }): StripDetector {
  if (overlays.shape[0] === 0) throw new AegisError("BAD_DATA", "STRIP needs at least one clean overlay image");
  return {
    name: "strip",
    overlays,
    threshold: options.threshold,
    fpr: options.fpr ?? Number.NaN,
    score: async (x) => Float32Array.from(await superimpositionEntropy(model, x, overlays), (h) => -h),
  };
}

export interface FitStripOptions {
  /** Overlays N (default 100, the paper's). */
  overlays?: number;
  /** False-rejection rate of the threshold on clean inputs (default 1%, the paper's). */
  fpr?: number;
  /** Clean inputs to set the threshold on (default: the clean inputs not taken as overlays). */
  calibration?: Tensor<"float32">;
}

/**
 * Fits STRIP on clean inputs: the first N rows of an evenly spaced order become the overlay
 * bank, and the threshold is set on the rest (or on `calibration`).
 */
export async function fitStrip(model: Predictor, clean: Tensor<"float32">, options: FitStripOptions = {}): Promise<StripDetector> {
  const count = options.overlays ?? STRIP_DEFAULTS.overlays;
  const fpr = options.fpr ?? STRIP_DEFAULTS.fpr;
  const n = clean.shape[0];
  if (!Number.isInteger(count) || count < 1) throw new AegisError("BAD_OPTION", `--overlays must be a positive integer, not ${count}`);
  if (count >= n && !options.calibration)
    throw new AegisError(
      "BAD_DATA",
      `STRIP takes ${count} overlays and needs more clean inputs than that to set its threshold; give more data or --calibration-data`,
    );
  // Every (n/N)-th row: spread over the file, not one class of a sorted set.
  const step = n / Math.min(count, n);
  const chosen = Array.from({ length: Math.min(count, n) }, (_, i) => Math.floor(i * step));
  const taken = new Set(chosen);
  const bank = gatherRows(clean, chosen);
  let calibration = options.calibration;
  if (!calibration) {
    calibration = gatherRows(
      clean,
      Array.from({ length: n }, (_, i) => i).filter((i) => !taken.has(i)),
    );
  }
  const unfitted = stripDetector(model, bank, { threshold: Number.POSITIVE_INFINITY });
  const scores = await unfitted.score(calibration);
  return { ...unfitted, threshold: thresholdAtFpr(scores, fpr), fpr };
}
