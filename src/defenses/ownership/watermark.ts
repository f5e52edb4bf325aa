/**
 * Trigger-set watermarking — Adi, Baum, Cisse, Pinkas & Keshet, "Turning Your Weakness Into
 * a Strength: Watermarking Deep Neural Networks by Backdooring", USENIX Security 2018.
 * The owner trains (or fine-tunes) the model on its training data with a secret trigger set
 * mixed into every batch: abstract images, each with a label drawn at random. The network
 * memorises them, as networks memorise random labels (Zhang et al. 2017), at little cost on
 * the task. A model of the task that was not trained on them gets each one right with
 * probability about 1/K, so a suspect that answers many of them as the key says is a copy.
 * Verification reports the trigger-set accuracy and the p-value of reaching it by chance:
 * P(X ≥ k) for X ~ Binomial(n, 1/K), summed in log space so that 100 of 100 (p = 10⁻¹⁰⁰)
 * neither underflows nor loses digits.
 * Defaults from the paper: 100 triggers with uniform random labels, and the owner's
 * threshold (p < 10⁻³ here: 21 of 100 triggers for ten classes).
 * Deviations: the paper's triggers are abstract images drawn by hand; here the key's seed
 * generates them — blocks of random grey levels on a coarse grid (7 × 7 cells for MNIST),
 * which no digit resembles, quantised to 8 bits so the key stores them exactly. Tabular
 * inputs get uniform noise in the input range. The paper mixes triggers into every batch
 * without saying how many; here each batch gets `triggersPerBatch` of them (default 16 on top of 64).
 * The paper's commitment scheme for public verification is left out: the key is private.
 */
import { createRng, type Rng } from "../../data/random.js";
import type { OnnxClassifier, Optimizer, Predictor } from "../../engine/index.js";
import { argmaxRow, type EpochStats, train } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { logGamma } from "../../normal.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";

export const WATERMARK_DEFAULTS = {
  /** Trigger images (the paper's 100). */
  triggers: 100,
  /** Trigger rows appended to each training batch. */
  triggersPerBatch: 16,
  /** The p-value below which a suspect carries the watermark. */
  threshold: 1e-3,
};

/** Grid cells along each side of an image trigger (7 × 7 for 28 × 28 digits). */
const TRIGGER_CELLS = 7;
const LEVELS = 255;

export interface TriggerSet {
  /** [n, ...inputShape], 8-bit grey levels mapped into the input range. */
  x: Tensor<"float32">;
  labels: number[];
}

export interface TriggerOptions {
  count: number;
  seed: number;
  /** The model's valid input range; the triggers span it. */
  clipRange: readonly [number, number];
}

/**
 * The secret trigger set of a seed: abstract block images (or noise rows for tabular
 * inputs) and uniform random labels. The same seed gives the same set on every platform.
 */
export function makeTriggerSet(inputShape: readonly number[], numClasses: number, options: TriggerOptions): TriggerSet {
  const [lo, hi] = options.clipRange;
  if (!Number.isFinite(lo) || !Number.isFinite(hi))
    throw new AegisError("BAD_OPTION", 'trigger images need a bounded input range; give the model\'s range with --clip "lo,hi"');
  if (!Number.isInteger(options.count) || options.count < 1) throw new AegisError("BAD_OPTION", `--triggers must be a positive integer, not ${options.count}`);
  if (numClasses < 2) throw new AegisError("BAD_MODEL", `a watermark needs a classifier of at least 2 classes, not ${numClasses}`);
  const rng = createRng(options.seed);
  const levels = new Uint8Array(options.count * sizeOf(inputShape));
  const per = sizeOf(inputShape);
  for (let i = 0; i < options.count; i++) fillTrigger(levels.subarray(i * per, (i + 1) * per), inputShape, rng);
  const labels = Array.from({ length: options.count }, () => rng.int(numClasses));
  return { x: triggersFromLevels(levels, inputShape, options.clipRange), labels };
}

/** One trigger's 8-bit levels: for [C, H, W] images a random grey level per grid cell and channel, else one per feature. */
function fillTrigger(out: Uint8Array, inputShape: readonly number[], rng: Rng): void {
  if (inputShape.length !== 3) {
    for (let j = 0; j < out.length; j++) out[j] = rng.int(LEVELS + 1);
    return;
  }
  const [channels, height, width] = inputShape;
  const cellH = Math.ceil(height / TRIGGER_CELLS);
  const cellW = Math.ceil(width / TRIGGER_CELLS);
  for (let c = 0; c < channels; c++) {
    const cells = Array.from({ length: TRIGGER_CELLS * TRIGGER_CELLS }, () => rng.int(LEVELS + 1));
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) out[(c * height + y) * width + x] = cells[Math.floor(y / cellH) * TRIGGER_CELLS + Math.floor(x / cellW)];
  }
}

/** 8-bit levels mapped linearly onto [lo, hi]. */
export function triggersFromLevels(levels: Uint8Array, inputShape: readonly number[], [lo, hi]: readonly [number, number]): Tensor<"float32"> {
  const per = sizeOf(inputShape);
  return float32(
    [levels.length / per, ...inputShape],
    Float32Array.from(levels, (v) => lo + (v / LEVELS) * (hi - lo)),
  );
}

/** The triggers' 8-bit levels again (exact: they were made from levels). */
export function levelsOfTriggers(x: Tensor<"float32">, [lo, hi]: readonly [number, number]): Uint8Array {
  return Uint8Array.from(x.data, (v) => Math.round(((v - lo) / (hi - lo)) * LEVELS));
}

export interface EmbedOptions {
  epochs: number;
  batchSize: number;
  optimizer: Optimizer;
  /** Trigger rows appended to each batch (default WATERMARK_DEFAULTS.triggersPerBatch). */
  triggersPerBatch?: number;
  seed?: number;
  validation?: { x: Tensor<"float32">; labels: readonly number[] };
  signal?: AbortSignal;
  onStep?: (info: { epoch: number; step: number; steps: number; loss: number }) => void;
  onEpoch?: (stats: EpochStats) => void | Promise<void>;
}

/**
 * Trains `classifier` (created with `trainable: true`; fresh weights for the paper's
 * "from scratch", a trained model for its "pre-trained" fine-tuning) on the task's data
 * with trigger rows drawn at random appended to every batch.
 */
export async function embedWatermark(
  classifier: OnnxClassifier,
  data: { x: Tensor<"float32">; labels: readonly number[] },
  triggers: TriggerSet,
  options: EmbedOptions,
): Promise<EpochStats[]> {
  const perBatch = options.triggersPerBatch ?? WATERMARK_DEFAULTS.triggersPerBatch;
  if (!Number.isInteger(perBatch) || perBatch < 1) throw new AegisError("BAD_OPTION", `--triggers-per-batch must be a positive integer, not ${perBatch}`);
  const triggerTargets = classifier.oneHot(triggers.labels);
  const n = triggers.labels.length;
  return train(classifier, data, {
    ...options,
    transform: async (batch, { rng }) => {
      const rows = Array.from({ length: perBatch }, () => rng.int(n));
      return {
        x: concatRows(batch.x, gatherRows(triggers.x, rows)),
        targets: concatRows(batch.targets, gatherRows(triggerTargets, rows)),
        labels: [...batch.labels, ...rows.map((r) => triggers.labels[r])],
      };
    },
  });
}

function concatRows(a: Tensor<"float32">, b: Tensor<"float32">): Tensor<"float32"> {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return float32([a.shape[0] + b.shape[0], ...a.shape.slice(1)], data);
}

export interface WatermarkVerification {
  triggers: number;
  /** Triggers the suspect answers with the key's label. */
  matches: number;
  accuracy: number;
  /** The chance of one match for a model that never saw the triggers: 1/K. */
  chance: number;
  /** log₁₀ of P(X ≥ matches), X ~ Binomial(triggers, chance). */
  log10PValue: number;
  /** The same p-value (0 once it underflows a double; log10PValue keeps it). */
  pValue: number;
  threshold: number;
  /** p-value below the threshold: the suspect carries the watermark. */
  verified: boolean;
}

/** Queries the suspect with the triggers and tests its matches against chance. */
export async function verifyWatermark(
  suspect: Predictor,
  triggers: TriggerSet,
  options: { numClasses: number; threshold?: number },
): Promise<WatermarkVerification> {
  const threshold = options.threshold ?? WATERMARK_DEFAULTS.threshold;
  if (!(threshold > 0 && threshold < 1)) throw new AegisError("BAD_OPTION", `--threshold must be in (0, 1), not ${threshold}`);
  // The output's width, not suspect.numClasses: an endpoint knows its classes only once it has answered.
  const out = await suspect.predict(triggers.x);
  if (out.shape[1] !== options.numClasses)
    throw new AegisError("SHAPE_MISMATCH", `the suspect answers with ${out.shape[1]} classes but the watermark key was made for ${options.numClasses}`);
  const matches = triggers.labels.filter((label, i) => argmaxRow(out, i) === label).length;
  const chance = 1 / options.numClasses;
  const lnP = logBinomialUpperTail(matches, triggers.labels.length, chance);
  const log10PValue = lnP / Math.LN10;
  return {
    triggers: triggers.labels.length,
    matches,
    accuracy: matches / triggers.labels.length,
    chance,
    log10PValue,
    pValue: Math.exp(lnP),
    threshold,
    verified: log10PValue < Math.log10(threshold),
  };
}

/**
 * ln P(X ≥ k) for X ~ Binomial(n, p), as the log-sum-exp of the terms
 * ln C(n, i) + i ln p + (n − i) ln(1 − p), i = k…n: exact to rounding however small.
 */
export function logBinomialUpperTail(k: number, n: number, p: number): number {
  if (!(Number.isInteger(k) && Number.isInteger(n) && n >= 0)) throw new RangeError(`counts must be integers, got k=${k}, n=${n}`);
  if (!(p > 0 && p < 1)) throw new RangeError(`p must be in (0, 1), got ${p}`);
  if (k <= 0) return 0;
  if (k > n) return Number.NEGATIVE_INFINITY;
  const logChoose = (i: number) => logGamma(n + 1) - logGamma(i + 1) - logGamma(n - i + 1);
  const terms = Array.from({ length: n - k + 1 }, (_, j) => logChoose(k + j) + (k + j) * Math.log(p) + (n - k - j) * Math.log1p(-p));
  const top = Math.max(...terms);
  const sum = terms.reduce((s, t) => s + Math.exp(t - top), 0);
  return Math.min(0, top + Math.log(sum));
}
