/**
 * MI-Face model inversion — Fredrikson, Jha & Ristenpart, "Model Inversion Attacks that
 * Exploit Confidence Information and Basic Countermeasures", ACM CCS 2015 (Algorithm 1).
 *
 * For a class c, gradient descent on the input minimises c(x) = 1 − f_c(x), the model's
 * lack of confidence in c: x ← Process(x − λ·∇c(x)), keeping the best iterate, until
 * f_c(x) ≥ `threshold` (the paper's γ), until the cost has not improved on the last `window`
 * iterations (β), or after `maxIter` (α). What comes out is a representative input of the
 * class — for a face recogniser, a recognisable face of the person; for a digit
 * classifier, the digit. Defaults from the paper: λ = 0.1, α = 5000, β = 100, γ = 0.99.
 *
 * Deviations: the start is mid-grey, not the paper's zero image (for inputs in [0, 1] a
 * black start sits where ReLU networks give almost no gradient, and a white one saturates
 * them); Process, which the paper leaves to the data (its faces were denoised and
 * sharpened), is a Gaussian blur of `blur` pixels (0 turns it off) followed by clipping to
 * the input range, so that the descent builds strokes rather than adversarial noise.
 * ∇c = f_c·∇CE(x, c) comes from one loss-gradient call per step for all classes together.
 */
import type { LossGradient, ModelInfo } from "../../engine/capabilities.js";
import { AegisError } from "../../errors.js";
import { imageLayout } from "../../report/images.js";
import { float32, sizeOf, type Tensor } from "../../tensor.js";

export interface MiFaceOptions {
  /** α: iterations at most. */
  maxIter: number;
  /** β: stop when the cost has not improved on any of the last `window` iterations. */
  window: number;
  /** γ as a confidence: stop once the model gives the class this probability. */
  threshold: number;
  /** λ: step size. */
  learningRate: number;
  /** Process: Gaussian blur of this many pixels after each step (images only; 0 for none). */
  blur: number;
  signal?: AbortSignal;
  onProgress?: (iteration: number, maxIter: number) => void;
}

export const MI_FACE_DEFAULTS: Omit<MiFaceOptions, "signal" | "onProgress"> = { maxIter: 5000, window: 100, threshold: 0.99, learningRate: 0.1, blur: 0.5 };

export interface Inversion {
  /** One reconstruction per class asked for, [classes, …sample shape]. */
  x: Tensor<"float32">;
  /** The model's confidence in each class on its reconstruction. */
  confidence: number[];
  /** Iterations each class ran. */
  iterations: number[];
}

export async function miFace(model: LossGradient & ModelInfo, classes: readonly number[], o: MiFaceOptions): Promise<Inversion> {
  for (const [name, v] of [
    ["maxIter", o.maxIter],
    ["window", o.window],
  ] as const)
    if (!Number.isInteger(v) || v < 1) throw new AegisError("BAD_OPTION", `MI-Face's ${name} must be a positive integer, not ${v}`);
  if (!(o.learningRate > 0)) throw new AegisError("BAD_OPTION", `MI-Face's learning rate must be positive, not ${o.learningRate}`);
  if (!(o.blur >= 0)) throw new AegisError("BAD_OPTION", `MI-Face's blur must be 0 or more pixels, not ${o.blur}`);
  const bad = classes.find((c) => !Number.isInteger(c) || c < 0 || c >= model.numClasses);
  if (bad !== undefined) throw new AegisError("BAD_OPTION", `class ${bad} is not one of the model's classes 0..${model.numClasses - 1}`);
  const shape = model.inputShape.map((d) => (d > 0 ? d : 1));
  const size = sizeOf(shape);
  const n = classes.length;
  const [lo, hi] = model.clipRange;
  if (!Number.isFinite(lo) || !Number.isFinite(hi))
    throw new AegisError("BAD_OPTION", "MI-Face starts from the middle of the input range, which needs a finite clip range");
  const process = processStep(shape, o.blur, lo, hi);
  const x = new Float32Array(n * size).fill((lo + hi) / 2);
  const best = Float32Array.from(x);
  const bestCost = new Float64Array(n).fill(Number.POSITIVE_INFINITY);
  const history: number[][] = classes.map(() => []);
  const active = classes.map(() => true);
  const iterations = classes.map(() => 0);
  for (let iteration = 1; iteration <= o.maxIter && active.some(Boolean); iteration++) {
    if (o.signal?.aborted) break;
    const rows = active.flatMap((a, i) => (a ? [i] : []));
    const batch = float32([rows.length, ...shape], gather(x, rows, size));
    const { loss, grad } = await model.valueAndGradient(
      batch,
      rows.map((i) => classes[i]),
      { loss: "ce" },
    );
    for (const [r, i] of rows.entries()) {
      const confidence = Math.exp(-loss[r]);
      const cost = 1 - confidence;
      if (cost < bestCost[i]) {
        bestCost[i] = cost;
        best.set(x.subarray(i * size, (i + 1) * size), i * size);
      }
      const past = history[i];
      // The paper's test: stop when this cost is no better than the worst of the last β.
      const stalled = past.length >= o.window && cost >= Math.max(...past.slice(-o.window));
      past.push(cost);
      iterations[i] = iteration;
      if (confidence >= o.threshold || stalled) {
        active[i] = false;
        continue;
      }
      // ∇(1 − f_c) = f_c·∇CE.
      for (let k = 0; k < size; k++) x[i * size + k] -= o.learningRate * confidence * grad.data[r * size + k];
      process(x, i);
    }
    o.onProgress?.(iteration, o.maxIter);
  }
  // The last iterate of classes still running when the loop ended has not been scored: score it.
  const last = float32([n, ...shape], x);
  const { loss } = await model.valueAndGradient(last, classes, { loss: "ce" });
  for (let i = 0; i < n; i++) {
    if (1 - Math.exp(-loss[i]) < bestCost[i]) {
      bestCost[i] = 1 - Math.exp(-loss[i]);
      best.set(x.subarray(i * size, (i + 1) * size), i * size);
    }
  }
  return { x: float32([n, ...shape], best), confidence: Array.from(bestCost, (c) => 1 - c), iterations };
}

function gather(x: Float32Array, rows: readonly number[], size: number): Float32Array {
  const out = new Float32Array(rows.length * size);
  for (const [r, i] of rows.entries()) out.set(x.subarray(i * size, (i + 1) * size), r * size);
  return out;
}

/** Process: a separable Gaussian blur of each image channel (when the samples are images), then clipping. */
function processStep(shape: readonly number[], sigma: number, lo: number, hi: number): (x: Float32Array, index: number) => void {
  const layout = imageLayout(shape);
  const size = sizeOf(shape);
  const radius = Math.ceil(3 * sigma);
  const kernel = Array.from({ length: 2 * radius + 1 }, (_, k) => Math.exp(-((k - radius) ** 2) / (2 * sigma * sigma)));
  const total = kernel.reduce((a, b) => a + b, 0);
  for (let k = 0; k < kernel.length; k++) kernel[k] /= total;
  return (x, index) => {
    const base = index * size;
    if (layout && sigma > 0) {
      const { height, width, channels, channelsFirst } = layout;
      const at = (y: number, xx: number, c: number) => base + (channelsFirst ? (c * height + y) * width + xx : (y * width + xx) * channels + c);
      const temp = new Float32Array(height * width);
      for (let c = 0; c < channels; c++) {
        for (let y = 0; y < height; y++)
          for (let xx = 0; xx < width; xx++) {
            let s = 0;
            for (let k = -radius; k <= radius; k++) s += kernel[k + radius] * x[at(y, Math.min(width - 1, Math.max(0, xx + k)), c)];
            temp[y * width + xx] = s;
          }
        for (let y = 0; y < height; y++)
          for (let xx = 0; xx < width; xx++) {
            let s = 0;
            for (let k = -radius; k <= radius; k++) s += kernel[k + radius] * temp[Math.min(height - 1, Math.max(0, y + k)) * width + xx];
            x[at(y, xx, c)] = s;
          }
      }
    }
    for (let k = base; k < base + size; k++) x[k] = Math.min(hi, Math.max(lo, x[k]));
  };
}

/** How recognisable each reconstruction is: Pearson correlation with every class's mean input in real data. */
export interface InversionSimilarity {
  /** [reconstruction][class]: correlation with that class's mean. */
  correlation: number[][];
  /** Per reconstruction, the rank of its own class's mean among all class means (1: the most similar). */
  rank: number[];
}

/** `means` [K, …sample shape], e.g. from classMeans. */
export function inversionSimilarity(inversion: Inversion, classes: readonly number[], means: Tensor<"float32">): InversionSimilarity {
  const size = sizeOf(means.shape.slice(1));
  const k = means.shape[0];
  const correlation = classes.map((_, i) =>
    Array.from({ length: k }, (_, c) => pearson(inversion.x.data.subarray(i * size, (i + 1) * size), means.data.subarray(c * size, (c + 1) * size))),
  );
  const rank = classes.map((c, i) => 1 + correlation[i].filter((v, j) => j !== c && v > correlation[i][c]).length);
  return { correlation, rank };
}

/** The mean input of each class [K, …sample shape] (zeros for a class without samples). */
export function classMeans(x: Tensor<"float32">, labels: readonly number[], numClasses: number): Tensor<"float32"> {
  const size = sizeOf(x.shape.slice(1));
  const sums = new Float64Array(numClasses * size);
  const counts = new Array<number>(numClasses).fill(0);
  labels.forEach((label, i) => {
    counts[label]++;
    for (let k = 0; k < size; k++) sums[label * size + k] += x.data[i * size + k];
  });
  return float32(
    [numClasses, ...x.shape.slice(1)],
    Float32Array.from(sums, (v, j) => (counts[Math.floor(j / size)] > 0 ? v / counts[Math.floor(j / size)] : 0)),
  );
}

function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i] / n;
    mb += b[i] / n;
  }
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < n; i++) {
    ab += (a[i] - ma) * (b[i] - mb);
    aa += (a[i] - ma) ** 2;
    bb += (b[i] - mb) ** 2;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}
