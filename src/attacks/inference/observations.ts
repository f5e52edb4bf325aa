/**
 * What a membership attacker sees: a model's class log-probabilities on a set of samples,
 * each queried under a few augmentations (Carlini et al. 2022 query every sample mirrored
 * and shifted, because a model that trained on a sample also fits its augmentations
 * better), and the per-sample statistics the attacks read from them: the loss, the
 * true-class probability and its logit φ = log p_y − log(1 − p_y), which LiRA models as a
 * Gaussian.
 */
import type { ModelInfo, Predictor } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { type ImageLayout, imageLayout } from "../../report/images.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";

/**
 * Query augmentations: none; mirror (left–right); shift (by one pixel in each of the eight
 * directions, edges repeated); mirror and shift. Images only; tabular samples take none.
 */
export const AUGMENTATIONS = ["none", "flip", "shift", "flip-shift"] as const;
export type AugmentationName = (typeof AUGMENTATIONS)[number];

/** One augmentation of a batch; the first of every set is the identity. */
export type Augment = (x: Tensor<"float32">) => Tensor<"float32">;

export interface LabelledData {
  x: Tensor<"float32">;
  labels: readonly number[];
}

/** A model's log-probabilities, [augmentations, samples, classes] flattened; augmentation 0 is the sample itself. */
export interface Outputs {
  logProbs: Float32Array;
  augmentations: number;
  samples: number;
  classes: number;
}

export function augmentations(name: AugmentationName, sampleShape: readonly number[]): Augment[] {
  if (!AUGMENTATIONS.includes(name)) throw new AegisError("BAD_OPTION", `--augment must be one of ${AUGMENTATIONS.join(", ")}, not "${name}"`);
  const identity: Augment = (x) => x;
  if (name === "none") return [identity];
  const layout = imageLayout(sampleShape);
  if (!layout)
    throw new AegisError(
      "BAD_OPTION",
      `--augment ${name} mirrors or shifts images, but the samples have shape [${sampleShape.join(", ")}]; use --augment none for tabular data`,
    );
  const shifts: [number, number][] = [[0, 0]];
  if (name === "shift" || name === "flip-shift") for (const dy of [-1, 0, 1]) for (const dx of [-1, 0, 1]) if (dx !== 0 || dy !== 0) shifts.push([dx, dy]);
  const flips = name === "flip" || name === "flip-shift" ? [false, true] : [false];
  return flips.flatMap((flip) =>
    shifts.map(([dx, dy]): Augment => {
      if (!flip && dx === 0 && dy === 0) return identity;
      return (x) => {
        const out = new Float32Array(x.data.length);
        for (let i = 0; i < x.shape[0]; i++) moveImage(x.data, out, i, layout, { dx, dy, flip });
        return float32(x.shape, out);
      };
    }),
  );
}

/**
 * Copies image `index` of `source` into `target`, shifted by (dx, dy) pixels (edges
 * repeated) and optionally mirrored left–right.
 */
export function moveImage(
  source: Float32Array,
  target: Float32Array,
  index: number,
  layout: ImageLayout,
  move: { dx: number; dy: number; flip: boolean },
): void {
  const { height, width, channels, channelsFirst } = layout;
  const base = index * height * width * channels;
  const at = (y: number, x: number, c: number) => base + (channelsFirst ? (c * height + y) * width + x : (y * width + x) * channels + c);
  for (let c = 0; c < channels; c++)
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const sy = Math.min(height - 1, Math.max(0, y - move.dy));
        const column = move.flip ? width - 1 - x : x;
        const sx = Math.min(width - 1, Math.max(0, column - move.dx));
        target[at(y, x, c)] = source[at(sy, sx, c)];
      }
}

/** The model's outputs as log-probabilities, whether it returns logits or probabilities. */
export function logProbabilities(model: Pick<ModelInfo, "outputKind">, output: Tensor<"float32">): Float32Array {
  const [n, k] = output.shape;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const row = output.data.subarray(i * k, (i + 1) * k);
    if (model.outputKind === "probs") {
      // Probabilities of exactly 0 (hard trees, rounded outputs) stay finite.
      for (let j = 0; j < k; j++) out[i * k + j] = Math.log(Math.max(row[j], 1e-30));
      continue;
    }
    let max = Number.NEGATIVE_INFINITY;
    for (const v of row) max = Math.max(max, v);
    let sum = 0;
    for (const v of row) sum += Math.exp(v - max);
    const lse = max + Math.log(sum);
    for (let j = 0; j < k; j++) out[i * k + j] = row[j] - lse;
  }
  return out;
}

/** Queries `model` on every augmentation of `x`. */
export async function queryOutputs(model: Predictor, x: Tensor<"float32">, augment: readonly Augment[]): Promise<Outputs> {
  const n = x.shape[0];
  const k = model.numClasses;
  const logProbs = new Float32Array(augment.length * n * k);
  for (const [a, transform] of augment.entries()) {
    const output = await model.predict(transform(x));
    if (output.shape[1] !== k) throw new AegisError("BAD_MODEL", `the model returned ${output.shape[1]} scores per sample, expected ${k}`);
    logProbs.set(logProbabilities(model, output), a * n * k);
  }
  return { logProbs, augmentations: augment.length, samples: n, classes: k };
}

/** log p_y of sample i under augmentation a. */
function logTrue(o: Outputs, a: number, i: number, label: number): number {
  return o.logProbs[(a * o.samples + i) * o.classes + label];
}

/** log(1 − p_y) = log Σ_{j≠y} p_j, computed from the other classes so it stays exact when p_y rounds to 1. */
function logRest(o: Outputs, a: number, i: number, label: number): number {
  const row = (a * o.samples + i) * o.classes;
  let max = Number.NEGATIVE_INFINITY;
  for (let j = 0; j < o.classes; j++) if (j !== label) max = Math.max(max, o.logProbs[row + j]);
  let sum = 0;
  for (let j = 0; j < o.classes; j++) if (j !== label) sum += Math.exp(o.logProbs[row + j] - max);
  return max + Math.log(sum);
}

/** Per sample, the logit of the true-class probability φ = log p_y − log(1 − p_y), averaged over the augmentations. */
export function trueClassLogit(o: Outputs, labels: readonly number[]): Float64Array {
  const out = new Float64Array(o.samples);
  for (let i = 0; i < o.samples; i++) {
    let sum = 0;
    for (let a = 0; a < o.augmentations; a++) sum += logTrue(o, a, i, labels[i]) - logRest(o, a, i, labels[i]);
    // A model that gives the other classes exactly zero (rounded probabilities) would give +∞.
    out[i] = Math.min(sum / o.augmentations, 1e4);
  }
  return out;
}

/** Per sample, the true-class probability averaged over the augmentations. */
export function trueClassProbability(o: Outputs, labels: readonly number[]): Float64Array {
  const out = new Float64Array(o.samples);
  for (let i = 0; i < o.samples; i++) {
    let sum = 0;
    for (let a = 0; a < o.augmentations; a++) sum += Math.exp(logTrue(o, a, i, labels[i]));
    out[i] = sum / o.augmentations;
  }
  return out;
}

/** Per sample, the cross-entropy loss −log p_y of the sample itself (no augmentation). */
export function sampleLoss(o: Outputs, labels: readonly number[]): Float64Array {
  return Float64Array.from({ length: o.samples }, (_, i) => -logTrue(o, 0, i, labels[i]));
}

/** Per sample, the largest class probability of the sample itself. */
export function maxConfidence(o: Outputs): Float64Array {
  return Float64Array.from({ length: o.samples }, (_, i) => {
    let max = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < o.classes; j++) max = Math.max(max, o.logProbs[i * o.classes + j]);
    return Math.exp(max);
  });
}

/** Per sample, the share of its augmentations the model labels correctly (label-only attacks). */
export function correctShare(o: Outputs, labels: readonly number[]): Float64Array {
  return Float64Array.from({ length: o.samples }, (_, i) => {
    let correct = 0;
    for (let a = 0; a < o.augmentations; a++) {
      const row = (a * o.samples + i) * o.classes;
      let best = 0;
      for (let j = 1; j < o.classes; j++) if (o.logProbs[row + j] > o.logProbs[row + best]) best = j;
      if (best === labels[i]) correct++;
    }
    return correct / o.augmentations;
  });
}

/** The samples of several sets, in order, in one set. */
export function concatData(parts: readonly LabelledData[]): LabelledData {
  const shape = parts[0].x.shape.slice(1);
  const total = parts.reduce((n, p) => n + p.labels.length, 0);
  const x = new Float32Array(total * sizeOf(shape));
  let offset = 0;
  for (const p of parts) {
    x.set(p.x.data, offset);
    offset += p.x.data.length;
  }
  return { x: float32([total, ...shape], x), labels: parts.flatMap((p) => [...p.labels]) };
}

/** Rows `rows` of a set of outputs (every augmentation). */
export function selectSamples(o: Outputs, rows: readonly number[]): Outputs {
  const k = o.classes;
  const logProbs = new Float32Array(o.augmentations * rows.length * k);
  for (let a = 0; a < o.augmentations; a++)
    for (const [r, i] of rows.entries()) logProbs.set(o.logProbs.subarray((a * o.samples + i) * k, (a * o.samples + i + 1) * k), (a * rows.length + r) * k);
  return { logProbs, augmentations: o.augmentations, samples: rows.length, classes: k };
}

/** Rows of a labelled set. */
export function sampleRows(data: LabelledData, rows: readonly number[]): LabelledData {
  return { x: gatherRows(data.x, rows), labels: rows.map((i) => data.labels[i]) };
}
