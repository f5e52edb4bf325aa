/**
 * Feature-squeezing detector — Xu, Evans & Qi, "Feature Squeezing: Detecting Adversarial
 * Examples in Deep Neural Networks", NDSS 2018. The model's softmax prediction on the input
 * is compared with its predictions on squeezed copies of the input; the score is the largest
 * L1 distance over the squeezers ("joint detection"), and inputs whose score reaches a
 * threshold chosen at a false-positive rate on clean data are flagged. Defaults are the
 * paper's MNIST configuration: 1-bit depth reduction and a 2×2 median filter, threshold at
 * 5% false positives (the authors' EvadeML-Zoo: `squeezers=bit_depth_1,median_filter_2_2`,
 * `distance_measure=l1`, `fpr=0.05`); CIFAR-10 and ImageNet used 5 bits, 2×2 median and
 * non-local means, which Aegis does not implement.
 */

import type { Predictor } from "../../engine/capabilities.js";
import { probabilitiesOf } from "../../engine/probabilities.js";
import { AegisError } from "../../errors.js";
import type { Tensor } from "../../tensor.js";
import { featureSqueezing } from "../preprocessors/feature-squeezing.js";
import { spatialSmoothing } from "../preprocessors/spatial-smoothing.js";
import type { Detector, Preprocessor } from "../types.js";
import { thresholdAtFpr } from "./threshold.js";

export type Squeezer = { kind: "bit-depth"; bits: number } | { kind: "median"; window: number };

export interface FeatureSqueezingDetectorOptions {
  /** Squeezers of the joint detector (default: 1-bit depth and 2×2 median, the paper's MNIST setting). */
  squeezers?: readonly Squeezer[];
  /** Whether samples are [C, H, W] (default) or [H, W, C], for the median filter. */
  channelsFirst?: boolean;
}

export interface FeatureSqueezingDetector extends Detector {
  readonly name: "feature-squeezing";
  readonly squeezers: readonly Squeezer[];
  readonly channelsFirst: boolean;
  /** The false-positive rate the threshold was fitted at (NaN when given directly). */
  readonly fpr: number;
}

export const MNIST_SQUEEZERS: readonly Squeezer[] = [
  { kind: "bit-depth", bits: 1 },
  { kind: "median", window: 2 },
];

/** Parses "bits=1,median=2" (the CLI's --squeezers). */
export function parseSqueezers(spec: string): Squeezer[] {
  const squeezers = spec.split(",").map((part): Squeezer => {
    const [key, value] = part.trim().split("=");
    const n = Number(value);
    if (key === "bits" && Number.isInteger(n)) return { kind: "bit-depth", bits: n };
    if (key === "median" && Number.isInteger(n)) return { kind: "median", window: n };
    throw new AegisError("BAD_OPTION", `--squeezers takes a list such as "bits=1,median=2" (bits=<1–16>, median=<window 2–15>), not "${part}"`);
  });
  if (squeezers.length === 0) throw new AegisError("BAD_OPTION", "--squeezers needs at least one squeezer");
  return squeezers;
}

/** A detector with a known threshold (loaded from a file, or set by hand). */
export function featureSqueezingDetector(
  model: Predictor,
  options: FeatureSqueezingDetectorOptions & { threshold: number; fpr?: number },
): FeatureSqueezingDetector {
  const squeezers = [...(options.squeezers ?? MNIST_SQUEEZERS)];
  const channelsFirst = options.channelsFirst ?? true;
  const transforms: Preprocessor[] = squeezers.map((s) =>
    s.kind === "bit-depth" ? featureSqueezing({ bitDepth: s.bits, clipRange: model.clipRange }) : spatialSmoothing({ windowSize: s.window, channelsFirst }),
  );
  if (transforms.length === 0) throw new AegisError("BAD_OPTION", "the feature-squeezing detector needs at least one squeezer");
  return {
    name: "feature-squeezing",
    squeezers,
    channelsFirst,
    threshold: options.threshold,
    fpr: options.fpr ?? Number.NaN,
    score: (x) => squeezingScores(model, transforms, x),
  };
}

/** Fits the threshold at `fpr` (default 5%) on clean inputs. */
export async function fitFeatureSqueezing(
  model: Predictor,
  clean: Tensor<"float32">,
  options: FeatureSqueezingDetectorOptions & { fpr?: number } = {},
): Promise<FeatureSqueezingDetector> {
  const fpr = options.fpr ?? 0.05;
  const unfitted = featureSqueezingDetector(model, { ...options, threshold: Number.POSITIVE_INFINITY });
  const scores = await unfitted.score(clean);
  return { ...unfitted, threshold: thresholdAtFpr(scores, fpr), fpr };
}

async function squeezingScores(model: Predictor, squeezers: readonly Preprocessor[], x: Tensor<"float32">): Promise<Float32Array> {
  const original = probabilitiesOf(model, await model.predict(x));
  const [n, k] = original.shape;
  const scores = new Float32Array(n);
  for (const squeezer of squeezers) {
    const squeezed = probabilitiesOf(model, await model.predict(await squeezer.apply(x)));
    for (let i = 0; i < n; i++) {
      let l1 = 0;
      for (let j = i * k; j < (i + 1) * k; j++) l1 += Math.abs(original.data[j] - squeezed.data[j]);
      if (l1 > scores[i]) scores[i] = l1;
    }
  }
  return scores;
}
