/**
 * Query streams for the run-time detectors (src/gateway/detectors): what one client sends to
 * an MNIST model, benign or hostile, as rows of 784 floats in [0, 1]. Shared by
 * test/gateway/detectors.test.ts and bench/extraction-detection.ts.
 * - Tramèr, Zhang, Juels, Reiter & Ristenpart, "Stealing Machine Learning Models via
 *   Prediction APIs", USENIX Security 2016: uniform random queries, and for each pair the
 *   model labels differently a line search (bisection) toward the decision boundary between
 *   them — the "noise queries" extraction PRADA was evaluated on.
 * - Papernot, McDaniel, Goodfellow, Jha, Celik & Swami, "Practical Black-Box Attacks against
 *   Machine Learning", AsiaCCS 2017: Jacobian-based data augmentation from a small seed set,
 *   each round adding x + λ·sign(∂F_c/∂x) for every sample so far (λ = 0.1 as the paper).
 *   Deviation: the gradient is the target model's own, standing in for the attacker's
 *   substitute (which would have to be trained between rounds); PRADA only sees the queries,
 *   and their geometry — a copy at L∞ distance λ from its parent — is the same.
 * - Benign: natural digits, and "lightly augmented" copies (shifted up to 2 pixels with
 *   Gaussian pixel noise) for a client who sends more queries than the test set holds.
 * - Orekondy, Schiele & Fritz, "Knockoff Nets: Stealing Functionality of Black-Box Models",
 *   CVPR 2019: the attacker queries natural images from another distribution (ImageNet,
 *   OpenImages) and trains a copy on the answers. With no network access, stand-ins of what
 *   such images look like to an MNIST model, each i.i.d. so that PRADA's distance test sees
 *   nothing unusual: pinkNoiseStream (Gaussian random fields with the 1/f amplitude spectrum
 *   of natural images, Field 1987 — textures and shading), shapesStream (random lines,
 *   rectangles and ellipses on a dark background — sketches, icons, letters), and
 *   scrambledDigitsStream (the client's digits cut into 7×7 tiles and shuffled, or inverted
 *   to dark-on-light — the pixel statistics of the task's data without its objects, like an
 *   attacker who has a few in-domain images and recombines them).
 */
import type { Rng } from "../src/data/random.js";
import type { Predictor } from "../src/engine/capabilities.js";
import type { OnnxClassifier } from "../src/engine/classifier.js";
import { argmaxRow } from "../src/engine/trainer.js";
import { float32, type Tensor } from "../src/tensor.js";

export const PIXELS = 784;
const SIDE = 28;

/** Row i of a [N, …] float32 tensor as its own array. */
export function row(t: Tensor<"float32">, i: number): Float32Array {
  return t.data.slice(i * PIXELS, (i + 1) * PIXELS);
}

/** Rows as one [N, 1, 28, 28] batch. */
export function stack(rows: readonly Float32Array[]): Tensor<"float32"> {
  const x = new Float32Array(rows.length * PIXELS);
  for (let i = 0; i < rows.length; i++) x.set(rows[i], i * PIXELS);
  return float32([rows.length, 1, SIDE, SIDE], x);
}

/** The model's predicted class of each row. */
export async function predictedClasses(model: Predictor, rows: readonly Float32Array[]): Promise<number[]> {
  const out: number[] = [];
  for (let start = 0; start < rows.length; start += 512) {
    const batch = rows.slice(start, start + 512);
    const scores = await model.predict(stack(batch));
    for (let i = 0; i < batch.length; i++) out.push(argmaxRow(scores, i));
  }
  return out;
}

export function uniformNoiseStream(n: number, rng: Rng): Float32Array[] {
  return Array.from({ length: n }, () => Float32Array.from({ length: PIXELS }, () => rng.next()));
}

/** Uniform pairs, then up to `steps` bisection queries between pairs of different classes. */
export async function lineSearchStream(model: Predictor, n: number, rng: Rng, steps = 8): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  while (rows.length < n) {
    const a = Float32Array.from({ length: PIXELS }, () => rng.next());
    const b = Float32Array.from({ length: PIXELS }, () => rng.next());
    rows.push(a, b);
    const [ca, cb] = await predictedClasses(model, [a, b]);
    if (ca === cb) continue;
    let low = a;
    let high = b;
    for (let s = 0; s < steps && rows.length < n; s++) {
      const mid = low.map((v, i) => (v + high[i]) / 2);
      rows.push(mid);
      const [cm] = await predictedClasses(model, [mid]);
      if (cm === ca) low = mid;
      else high = mid;
    }
  }
  return rows.slice(0, n);
}

/** Seeds first, then rounds of Jacobian-based augmentation until n queries. */
export async function jacobianAugmentationStream(model: OnnxClassifier, seeds: readonly Float32Array[], n: number, lambda = 0.1): Promise<Float32Array[]> {
  const rows = [...seeds];
  // With a constant λ a point stepped back and forth lands on an earlier one exactly (three
  // in four of the raw stream on MNIST); an attacker already holds those labels and does
  // not pay for them twice, so the stream leaves them out.
  const seen = new Set(rows.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength).toString("base64")));
  let set = [...seeds];
  while (rows.length < n) {
    const input = stack(set);
    const classes = await predictedClasses(model, set);
    const grad = await model.classGradient(input, classes);
    const stepped = set.map((r, i) => r.map((v, j) => Math.min(1, Math.max(0, v + lambda * Math.sign(grad.data[i * PIXELS + j])))));
    const fresh = stepped.filter((r) => {
      const key = Buffer.from(r.buffer, r.byteOffset, r.byteLength).toString("base64");
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    if (fresh.length === 0) break;
    rows.push(...fresh);
    set = [...set, ...fresh];
  }
  return rows.slice(0, n);
}

/** A copy of a digit shifted by up to `maxShift` pixels each way, with N(0, σ²) pixel noise, clipped to [0, 1]. */
export function lightlyAugmented(image: Float32Array, rng: Rng, maxShift = 2, sigma = 0.05): Float32Array {
  const dx = rng.int(2 * maxShift + 1) - maxShift;
  const dy = rng.int(2 * maxShift + 1) - maxShift;
  const out = new Float32Array(PIXELS);
  for (let r = 0; r < SIDE; r++) {
    for (let c = 0; c < SIDE; c++) {
      const sr = r - dy;
      const sc = c - dx;
      const v = sr >= 0 && sr < SIDE && sc >= 0 && sc < SIDE ? image[sr * SIDE + sc] : 0;
      out[r * SIDE + c] = Math.min(1, Math.max(0, v + sigma * rng.normal()));
    }
  }
  return out;
}

/** A Predictor that forwards to `model` and records every row it is asked about, in order. */
export function recordingPredictor(model: Predictor): Predictor & { queries: Float32Array[] } {
  const queries: Float32Array[] = [];
  return {
    queries,
    inputShape: model.inputShape,
    numClasses: model.numClasses,
    clipRange: model.clipRange,
    outputKind: model.outputKind,
    predict(x) {
      for (let i = 0; i < x.shape[0]; i++) queries.push(row(x, i));
      return model.predict(x);
    },
  };
}

/**
 * Gaussian random fields with amplitude ∝ 1/f (power 1/f², the spectrum of natural images):
 * a sum of every spatial frequency of the 28×28 grid with random phase, rescaled to [0, 1].
 */
export function pinkNoiseStream(n: number, rng: Rng): Float32Array[] {
  const half = SIDE / 2;
  const waves: { u: number; v: number; amplitude: number }[] = [];
  for (let u = -half + 1; u <= half; u++) {
    for (let v = 0; v <= half; v++) if (v > 0 || u > 0) waves.push({ u, v, amplitude: 1 / Math.hypot(u, v) });
  }
  const field = new Float64Array(PIXELS);
  const [rowCos, rowSin, colCos, colSin] = [0, 1, 2, 3].map(() => new Float64Array(SIDE));
  return Array.from({ length: n }, () => {
    field.fill(0);
    for (const { u, v, amplitude } of waves) {
      // A normal amplitude and uniform phase per frequency make the field Gaussian;
      // cos(α + β) = cos α cos β − sin α sin β splits each wave into a row and a column part.
      const a = amplitude * rng.normal();
      const phase = 2 * Math.PI * rng.next();
      for (let t = 0; t < SIDE; t++) {
        rowCos[t] = a * Math.cos((2 * Math.PI * u * t) / SIDE + phase);
        rowSin[t] = a * Math.sin((2 * Math.PI * u * t) / SIDE + phase);
        colCos[t] = Math.cos((2 * Math.PI * v * t) / SIDE);
        colSin[t] = Math.sin((2 * Math.PI * v * t) / SIDE);
      }
      for (let r = 0; r < SIDE; r++) for (let c = 0; c < SIDE; c++) field[r * SIDE + c] += rowCos[r] * colCos[c] - rowSin[r] * colSin[c];
    }
    return rescaled(field);
  });
}

/** 1–4 random strokes, rectangle outlines or filled ellipses of random brightness on a dark background. */
export function shapesStream(n: number, rng: Rng): Float32Array[] {
  return Array.from({ length: n }, () => {
    const image = new Float32Array(PIXELS);
    const shapes = 1 + rng.int(4);
    for (let s = 0; s < shapes; s++) {
      const brightness = 0.5 + 0.5 * rng.next();
      const paint = (r: number, c: number) => {
        if (r >= 0 && r < SIDE && c >= 0 && c < SIDE) image[r * SIDE + c] = Math.max(image[r * SIDE + c], brightness);
      };
      const [r0, c0, r1, c1] = [rng.int(SIDE), rng.int(SIDE), rng.int(SIDE), rng.int(SIDE)];
      const kind = rng.int(3);
      if (kind === 0) {
        const width = 1 + rng.int(3);
        const steps = 2 * Math.max(Math.abs(r1 - r0), Math.abs(c1 - c0), 1);
        for (let t = 0; t <= steps; t++) {
          const r = Math.round(r0 + ((r1 - r0) * t) / steps);
          const c = Math.round(c0 + ((c1 - c0) * t) / steps);
          for (let dr = 0; dr < width; dr++) for (let dc = 0; dc < width; dc++) paint(r + dr, c + dc);
        }
      } else if (kind === 1) {
        for (let r = Math.min(r0, r1); r <= Math.max(r0, r1); r++) {
          paint(r, c0);
          paint(r, c1);
        }
        for (let c = Math.min(c0, c1); c <= Math.max(c0, c1); c++) {
          paint(r0, c);
          paint(r1, c);
        }
      } else {
        const ry = 2 + rng.int(8);
        const rx = 2 + rng.int(8);
        for (let r = r0 - ry; r <= r0 + ry; r++) for (let c = c0 - rx; c <= c0 + rx; c++) if (((r - r0) / ry) ** 2 + ((c - c0) / rx) ** 2 <= 1) paint(r, c);
      }
    }
    return image;
  });
}

/** Each digit either cut into its sixteen 7×7 tiles, shuffled, or inverted (1 − x), at random. */
export function scrambledDigitsStream(digits: readonly Float32Array[], n: number, rng: Rng): Float32Array[] {
  const tile = 7;
  const perSide = SIDE / tile;
  return Array.from({ length: n }, (_, i) => {
    const digit = digits[i % digits.length];
    if (rng.next() < 0.5) return digit.map((v) => 1 - v);
    const order = rng.shuffle(Array.from({ length: perSide * perSide }, (_, t) => t));
    const out = new Float32Array(PIXELS);
    order.forEach((from, to) => {
      const [fr, fc] = [Math.floor(from / perSide) * tile, (from % perSide) * tile];
      const [tr, tc] = [Math.floor(to / perSide) * tile, (to % perSide) * tile];
      for (let r = 0; r < tile; r++) out.set(digit.subarray((fr + r) * SIDE + fc, (fr + r) * SIDE + fc + tile), (tr + r) * SIDE + tc);
    });
    return out;
  });
}

/** Values mapped linearly onto [0, 1]. */
function rescaled(values: Float64Array): Float32Array {
  let low = Number.POSITIVE_INFINITY;
  let high = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    low = Math.min(low, v);
    high = Math.max(high, v);
  }
  const span = high - low || 1;
  return Float32Array.from(values, (v) => (v - low) / span);
}
