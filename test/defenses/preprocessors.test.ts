import assert from "node:assert/strict";
import { describe, it } from "node:test";
import jpeg from "jpeg-js";
import { loadMnist } from "../../src/data/mnist.js";
import { createRng } from "../../src/data/random.js";
import { featureSqueezing, roundHalfEven } from "../../src/defenses/preprocessors/feature-squeezing.js";
import { gaussianNoise } from "../../src/defenses/preprocessors/gaussian-noise.js";
import { jpegCompression } from "../../src/defenses/preprocessors/jpeg-compression.js";
import { spatialSmoothing } from "../../src/defenses/preprocessors/spatial-smoothing.js";
import { totalVariation, tvDenoise } from "../../src/defenses/preprocessors/total-variation.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { countCorrect } from "../../src/engine/trainer.js";
import { isAegisError } from "../../src/errors.js";
import { float32, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const rng = createRng(5);
const uniform = (shape: number[]) =>
  float32(
    shape,
    Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => rng.next()),
  );
const badOption = (e: unknown) => isAegisError(e) && e.code === "BAD_OPTION";
const digits = (n: number) => sliceRows(loadMnist().test.x, 0, n);

describe("feature squeezing (Xu et al. 2018)", () => {
  it("keeps 2^bits levels of the clip range", () => {
    const x = uniform([4, 1, 8, 8]);
    const one = featureSqueezing({ bitDepth: 1 }).apply(x);
    assert.ok(one.data.every((v) => v === 0 || v === 1));
    const four = featureSqueezing({ bitDepth: 4 }).apply(x);
    for (const [i, v] of four.data.entries()) {
      assert.ok(Math.abs(v * 15 - Math.round(v * 15)) < 1e-5, `${v} is not a multiple of 1/15`);
      assert.ok(Math.abs(v - x.data[i]!) <= 1 / 30 + 1e-6);
    }
    const wide = featureSqueezing({ bitDepth: 1, clipRange: [-1, 1] }).apply(float32([1, 4], [-0.9, -0.1, 0.1, 0.8]));
    assert.deepEqual([...wide.data], [-1, -1, 1, 1]);
  });

  it("rounds ties to even, like NumPy's rint and ONNX Round", () => {
    assert.deepEqual([0.5, 1.5, 2.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven), [0, 2, 2, -0, -2, 2, 3]);
    assert.deepEqual([...featureSqueezing({ bitDepth: 1 }).apply(float32([1, 2], [0.5, 0.5000001])).data], [0, 1]);
  });

  it("is idempotent, has an identity BPDA backward and a zero true derivative", () => {
    const squeeze = featureSqueezing({ bitDepth: 3 });
    const x = uniform([2, 1, 5, 5]);
    const once = squeeze.apply(x);
    assert.deepEqual(squeeze.apply(once), once);
    const g = uniform([2, 1, 5, 5]);
    assert.equal(squeeze.backward(x, g), g);
    assert.ok(squeeze.naiveBackward!(x, g).data.every((v) => v === 0));
  });

  it("rejects bit depths outside 1–16", () => {
    assert.throws(() => featureSqueezing({ bitDepth: 0 }), badOption);
    assert.throws(() => featureSqueezing({ bitDepth: 2.5 }), badOption);
  });
});

/** Median filter written the slow way: pad with NumPy "symmetric" (SciPy "reflect"), sort each window. */
function referenceMedian(plane: number[][], size: number): number[][] {
  const h = plane.length;
  const w = plane[0]!.length;
  const before = Math.floor(size / 2);
  const after = size - 1 - before;
  const sym = (i: number, n: number) => (i < 0 ? -i - 1 : i >= n ? 2 * n - i - 1 : i);
  const padded: number[][] = [];
  for (let i = -before; i < h + after; i++) {
    const row: number[] = [];
    for (let j = -before; j < w + after; j++) row.push(plane[sym(i, h)]![sym(j, w)]!);
    padded.push(row);
  }
  return plane.map((row, i) =>
    row.map((_, j) => {
      const values: number[] = [];
      for (let a = 0; a < size; a++) for (let b = 0; b < size; b++) values.push(padded[i + a]![j + b]!);
      values.sort((p, q) => p - q);
      return values[Math.floor((size * size) / 2)]!;
    }),
  );
}

describe("spatial smoothing (median filter, Xu et al. 2018)", () => {
  for (const size of [2, 3, 4, 5]) {
    it(`matches a brute-force ${size}×${size} median with SciPy reflect padding`, () => {
      const x = uniform([2, 3, 7, 6]);
      const out = spatialSmoothing({ windowSize: size }).apply(x) as Tensor<"float32">;
      for (let s = 0; s < 2; s++) {
        for (let c = 0; c < 3; c++) {
          const base = (s * 3 + c) * 42;
          const plane = Array.from({ length: 7 }, (_, i) => Array.from(x.data.subarray(base + i * 6, base + i * 6 + 6)));
          const expected = referenceMedian(plane, size).flat();
          assert.deepEqual([...out.data.subarray(base, base + 42)], expected);
        }
      }
    });
  }

  it("a hand-checked 3×3 example: a lone spike is removed, an edge is kept", () => {
    const plane = [0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1];
    const out = spatialSmoothing({ windowSize: 3 }).apply(float32([1, 4, 4], plane)) as Tensor<"float32">;
    assert.deepEqual([...out.data], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1]);
  });

  it("channels-last gives the same result as channels-first", () => {
    const chw = uniform([2, 3, 5, 4]);
    const hwc = new Float32Array(chw.data.length);
    for (let s = 0; s < 2; s++) for (let c = 0; c < 3; c++) for (let p = 0; p < 20; p++) hwc[s * 60 + p * 3 + c] = chw.data[s * 60 + c * 20 + p]!;
    const a = spatialSmoothing({ windowSize: 3 }).apply(chw) as Tensor<"float32">;
    const b = spatialSmoothing({ windowSize: 3, channelsFirst: false }).apply(float32([2, 5, 4, 3], hwc)) as Tensor<"float32">;
    for (let s = 0; s < 2; s++) for (let c = 0; c < 3; c++) for (let p = 0; p < 20; p++) assert.equal(b.data[s * 60 + p * 3 + c], a.data[s * 60 + c * 20 + p]);
  });

  it("its true derivative (naiveBackward) matches finite differences", () => {
    const smooth = spatialSmoothing({ windowSize: 3 });
    const x = uniform([1, 1, 6, 6]);
    const weights = uniform([1, 1, 6, 6]);
    const f = (v: Tensor<"float32">) => (smooth.apply(v) as Tensor<"float32">).data.reduce((s, o, i) => s + o * weights.data[i]!, 0);
    const grad = smooth.naiveBackward!(x, weights);
    const h = 1e-4;
    for (let k = 0; k < 36; k++) {
      const plus = Float32Array.from(x.data);
      const minus = Float32Array.from(x.data);
      plus[k]! += h;
      minus[k]! -= h;
      const fd = (f(float32(x.shape, plus)) - f(float32(x.shape, minus))) / (2 * h);
      assert.ok(Math.abs(fd - grad.data[k]!) < 1e-2, `pixel ${k}: finite difference ${fd}, naiveBackward ${grad.data[k]}`);
    }
  });

  it("rejects window sizes below 2 and non-image shapes", () => {
    assert.throws(() => spatialSmoothing({ windowSize: 1 }), badOption);
    assert.throws(
      () => spatialSmoothing().apply(float32([2, 5])),
      (e: unknown) => isAegisError(e) && e.code === "SHAPE_MISMATCH",
    );
  });
});

/** A real JPEG round trip through jpeg-js (no chroma subsampling, like ours). */
function jpegJsRoundTrip(rgb: Float32Array, height: number, width: number, quality: number, channels: 1 | 3): Float32Array {
  const rgba = new Uint8Array(height * width * 4);
  for (let p = 0; p < height * width; p++) {
    for (let c = 0; c < 3; c++) rgba[p * 4 + c] = Math.round(255 * rgb[channels === 1 ? p : c * height * width + p]!);
    rgba[p * 4 + 3] = 255;
  }
  const decoded = jpeg.decode(jpeg.encode({ data: rgba, width, height }, quality).data, { useTArray: true });
  const out = new Float32Array(channels * height * width);
  for (let p = 0; p < height * width; p++) for (let c = 0; c < channels; c++) out[c * height * width + p] = decoded.data[p * 4 + c]! / 255;
  return out;
}

describe("JPEG compression (Dziugaite et al. 2016, Das et al. 2017)", () => {
  it("agrees with a real JPEG codec (jpeg-js) on MNIST digits and colour images", () => {
    const x = digits(10);
    const quantised = float32(
      x.shape,
      Float32Array.from(x.data, (v) => Math.round(v * 255) / 255),
    );
    for (const quality of [25, 75]) {
      const ours = jpegCompression({ quality }).apply(quantised) as Tensor<"float32">;
      let diff = 0;
      let change = 0;
      for (let s = 0; s < 10; s++) {
        const sample = quantised.data.subarray(s * 784, (s + 1) * 784);
        const reference = jpegJsRoundTrip(sample, 28, 28, quality, 1);
        for (let k = 0; k < 784; k++) {
          diff += Math.abs(ours.data[s * 784 + k]! - reference[k]!);
          change += Math.abs(reference[k]! - sample[k]!);
        }
      }
      // Both lose information the same way: the disagreement is a small part of the change (IDCT rounding differs).
      assert.ok(diff < 0.1 * change, `quality ${quality}: mean difference ${diff / 7840}, mean change ${change / 7840}`);
    }
    const colour = uniform([1, 3, 16, 16]);
    const smoothColour = float32(
      colour.shape,
      Float32Array.from(colour.data, (v, i) => Math.round(255 * (0.5 + 0.3 * Math.sin(i / 7) + 0.1 * v)) / 255),
    );
    const ours = jpegCompression({ quality: 50 }).apply(smoothColour) as Tensor<"float32">;
    const reference = jpegJsRoundTrip(smoothColour.data, 16, 16, 50, 3);
    let worst = 0;
    let total = 0;
    for (let k = 0; k < reference.length; k++) {
      const d = Math.abs(ours.data[k]! - reference[k]!);
      worst = Math.max(worst, d);
      total += d;
    }
    // Colour conversions round differently (jpeg-js uses integer tables): a level on average, a few at worst.
    assert.ok(total / reference.length <= 1 / 255, `mean difference ${(255 * total) / reference.length} levels`);
    assert.ok(worst <= 6 / 255, `largest difference ${worst * 255} levels`);
  });

  it("returns whole 0–255 levels, loses more at lower quality, and has a zero true derivative", () => {
    const x = digits(5);
    const error = (quality: number) => {
      const out = jpegCompression({ quality }).apply(x) as Tensor<"float32">;
      for (const v of out.data) assert.ok(Math.abs(v * 255 - Math.round(v * 255)) < 1e-3);
      return out.data.reduce((s, v, i) => s + Math.abs(v - x.data[i]!), 0);
    };
    const [q10, q50, q95] = [error(10), error(50), error(95)];
    assert.ok(q10 > q50 && q50 > q95, `errors ${q10}, ${q50}, ${q95}`);
    const p = jpegCompression();
    assert.ok(p.naiveBackward!(x, x).data.every((v) => v === 0));
    assert.throws(() => jpegCompression({ quality: 0 }), badOption);
    assert.throws(
      () => p.apply(float32([1, 2, 8, 8])),
      (e: unknown) => isAegisError(e) && e.code === "UNSUPPORTED",
    );
  });
});

describe("Gaussian noise (Zantedeschi et al. 2017)", () => {
  it("adds N(0, σ²), fresh on every call, reproducible from the seed", () => {
    const x = float32([20, 1, 28, 28]).data.fill(0.5);
    const input = float32([20, 1, 28, 28], x);
    const noise = gaussianNoise({ sigma: 0.1, seed: 3 });
    const a = noise.apply(input) as Tensor<"float32">;
    const b = noise.apply(input) as Tensor<"float32">;
    const again = gaussianNoise({ sigma: 0.1, seed: 3 }).apply(input) as Tensor<"float32">;
    assert.deepEqual(again, a);
    assert.notDeepEqual(a.data, b.data);
    const d = a.data.map((v) => v - 0.5);
    const mean = d.reduce((s, v) => s + v, 0) / d.length;
    const std = Math.sqrt(d.reduce((s, v) => s + (v - mean) ** 2, 0) / d.length);
    assert.ok(Math.abs(mean) < 0.005 && Math.abs(std - 0.1) < 0.005, `mean ${mean}, std ${std}`);
    assert.equal(noise.randomized, true);
  });

  it("clips to the valid range by default", () => {
    const out = gaussianNoise({ sigma: 1 }).apply(uniform([5, 1, 10, 10])) as Tensor<"float32">;
    assert.ok(out.data.every((v) => v >= 0 && v <= 1));
    assert.throws(() => gaussianNoise({ sigma: 0 }), badOption);
  });
});

describe("total-variation minimisation (Guo et al. 2018)", () => {
  const tv = (d: ArrayLike<number>, h: number, w: number) => {
    let s = 0;
    for (let i = 0; i < h; i++)
      for (let j = 0; j < w; j++) s += Math.hypot(j + 1 < w ? d[i * w + j + 1]! - d[i * w + j]! : 0, i + 1 < h ? d[(i + 1) * w + j]! - d[i * w + j]! : 0);
    return s;
  };

  it("the primal–dual solver reaches the minimum of the convex objective", () => {
    const h = 10;
    const w = 12;
    const x = Float64Array.from({ length: h * w }, () => rng.next());
    const mask = Uint8Array.from({ length: h * w }, () => (rng.next() < 0.5 ? 1 : 0));
    const lambda = 0.1;
    const objective = (z: ArrayLike<number>) => {
      let fidelity = 0;
      for (let k = 0; k < z.length; k++) fidelity += 0.5 * mask[k]! * (z[k]! - x[k]!) ** 2;
      return fidelity + lambda * tv(z, h, w);
    };
    const z = tvDenoise(x, mask, h, w, lambda, 2000);
    const best = objective(z);
    assert.ok(best < objective(x));
    for (let trial = 0; trial < 50; trial++) {
      const moved = z.map((v) => v + (rng.next() - 0.5) * 0.02);
      assert.ok(objective(moved) >= best - 1e-6, `a random nearby point has a lower objective (${objective(moved)} < ${best})`);
    }
  });

  it("flattens a noisy digit, keeps it recognisable, and redraws the dropout mask each call", async () => {
    const clean = digits(4);
    const noisy = float32(
      clean.shape,
      Float32Array.from(clean.data, (v) => Math.min(1, Math.max(0, v + (rng.next() - 0.5) * 0.3))),
    );
    const transform = totalVariation({ seed: 1 });
    const a = transform.apply(noisy) as Tensor<"float32">;
    const b = transform.apply(noisy) as Tensor<"float32">;
    assert.notDeepEqual(a.data, b.data);
    let tvIn = 0;
    let tvOut = 0;
    for (let s = 0; s < 4; s++) {
      tvIn += tv(noisy.data.subarray(s * 784, (s + 1) * 784), 28, 28);
      tvOut += tv(a.data.subarray(s * 784, (s + 1) * 784), 28, 28);
    }
    assert.ok(tvOut < 0.5 * tvIn, `total variation ${tvIn} → ${tvOut}`);
    const model = await OnnxClassifier.fromFile("models/mnist-cnn.onnx");
    const test = loadMnist().test;
    const hundred = sliceRows(test.x, 0, 100);
    const accuracy = countCorrect(await model.predict(transform.apply(hundred)), labelsOf(test.y).slice(0, 100)) / 100;
    assert.ok(accuracy >= 0.9, `the CNN recognises ${accuracy} of TV-minimised digits`);
    await model.release();
    assert.ok(a.data.every((v) => v >= 0 && v <= 1));
    assert.throws(() => totalVariation({ keepProb: 0 }), badOption);
  });
});
