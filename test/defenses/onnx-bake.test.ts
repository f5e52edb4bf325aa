import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { loadMnist } from "../../src/data/mnist.js";
import { createRng } from "../../src/data/random.js";
import { defend } from "../../src/defenses/defended-classifier.js";
import { bakePreprocessors } from "../../src/defenses/onnx-bake.js";
import { featureSqueezing } from "../../src/defenses/preprocessors/feature-squeezing.js";
import { gaussianNoise } from "../../src/defenses/preprocessors/gaussian-noise.js";
import { jpegCompression } from "../../src/defenses/preprocessors/jpeg-compression.js";
import { spatialSmoothing } from "../../src/defenses/preprocessors/spatial-smoothing.js";
import type { Preprocessor } from "../../src/defenses/types.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { createSession } from "../../src/engine/runtime.js";
import { loadModel } from "../../src/onnx/io.js";
import { DataType, emptyModel, type Model } from "../../src/onnx/ir.js";
import { float32, sliceRows, type Tensor } from "../../src/tensor.js";

const MODEL = "models/mnist-cnn.onnx";

/** 100 MNIST digits, 50 of them with uniform noise (values off the 1/255 grid), and values exactly on rounding ties. */
function inputs(): Tensor<"float32"> {
  const clean = sliceRows(loadMnist().test.x, 0, 100);
  const data = Float32Array.from(clean.data);
  const rng = createRng(7);
  const half = data.length / 2;
  for (let i = half; i < data.length; i++) data[i] = Math.min(1, Math.max(0, data[i]! + (rng.next() - 0.5) * 0.6));
  // Ties of 1-bit and 4-bit squeezing (0.5 and k/30), where half-to-even rounding matters.
  for (let i = 0; i < 200; i++) data[half + i * 97] = i % 2 === 0 ? 0.5 : (2 * (i % 15) + 1) / 30;
  return float32(clean.shape, data);
}

/** A model that returns its preprocessed input: the baked part alone. */
function identityModel(shape: (number | string)[]): Model {
  const m = emptyModel(17);
  m.graph.inputs.push({ name: "x", elemType: DataType.FLOAT, shape });
  m.graph.outputs.push({ name: "y", elemType: DataType.FLOAT, shape });
  m.graph.nodes.push({ name: "id", opType: "Identity", domain: "", inputs: ["x"], outputs: ["y"], attributes: {} });
  return m;
}

async function runBaked(model: Model, x: Tensor<"float32">): Promise<Tensor<"float32">> {
  const session = await createSession(model);
  const out = (await session.run({ x })).y as Tensor<"float32">;
  await session.release();
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe("baking preprocessors into ONNX", () => {
  let base: OnnxClassifier;
  let x: Tensor<"float32">;
  before(async () => {
    base = await OnnxClassifier.fromFile(MODEL);
    x = inputs();
  });
  after(async () => base.release());

  const chains: [string, () => Preprocessor[]][] = [
    ["squeeze 1 bit", () => [featureSqueezing({ bitDepth: 1 })]],
    ["squeeze 4 bits", () => [featureSqueezing({ bitDepth: 4 })]],
    ["median 2×2", () => [spatialSmoothing({ windowSize: 2 })]],
    ["median 3×3", () => [spatialSmoothing({ windowSize: 3 })]],
    ["median 5×5 then squeeze 5 bits", () => [spatialSmoothing({ windowSize: 5 }), featureSqueezing({ bitDepth: 5 })]],
  ];

  for (const [label, chain] of chains) {
    it(`${label}: the baked graph computes the TypeScript preprocessor exactly`, async () => {
      const pre = chain();
      const { model, baked, runtime } = bakePreprocessors(identityModel(["n", 1, 28, 28]), pre);
      assert.equal(baked.length, pre.length);
      assert.equal(runtime.length, 0);
      const expected = await defend(base, { preprocessors: pre }).preprocess(x);
      const got = await runBaked(model, x);
      assert.equal(maxAbsDiff(got.data, expected.data), 0);
      // The transform did something: a no-op would pass the equality trivially.
      assert.ok(maxAbsDiff(expected.data, x.data) > 0.01);
    });

    it(`${label}: the baked model's predictions equal the run-time wrapper's to 1e-5`, async () => {
      const pre = chain();
      const { model } = bakePreprocessors(loadModel(MODEL), pre);
      const bakedClassifier = await OnnxClassifier.create(model);
      const wrapped = defend(base, { preprocessors: pre });
      const a = await bakedClassifier.predict(x);
      const b = await wrapped.predict(x);
      assert.ok(maxAbsDiff(a.data, b.data) <= 1e-5, `max difference ${maxAbsDiff(a.data, b.data)}`);
      await bakedClassifier.release();
    });
  }

  it("channels-last median filters bake too", async () => {
    const pre = [spatialSmoothing({ windowSize: 3, channelsFirst: false })];
    const rng = createRng(3);
    const hwc = float32(
      [4, 9, 7, 3],
      Float32Array.from({ length: 4 * 9 * 7 * 3 }, () => rng.next()),
    );
    const { model } = bakePreprocessors(identityModel(["n", 9, 7, 3]), pre);
    const got = await runBaked(model, hwc);
    assert.equal(maxAbsDiff(got.data, (await pre[0]!.apply(hwc)).data), 0);
  });

  it("the baked median model is differentiable and its gradient is the naive (true) derivative of the wrapper", async () => {
    const pre = [spatialSmoothing({ windowSize: 3 })];
    const { model } = bakePreprocessors(loadModel(MODEL), pre);
    const bakedClassifier = await OnnxClassifier.create(model);
    // Noisy inputs have no ties inside a window, so both pick the same pixel.
    const rng = createRng(11);
    const noisy = float32(
      [8, 1, 28, 28],
      Float32Array.from({ length: 8 * 784 }, () => rng.next()),
    );
    const labels = [0, 1, 2, 3, 4, 5, 6, 7];
    const viaGraph = await bakedClassifier.lossGradient(noisy, labels);
    const viaWrapper = await defend(base, { preprocessors: pre, gradient: "naive" }).lossGradient(noisy, labels);
    let scale = 0;
    for (const v of viaWrapper.data) scale = Math.max(scale, Math.abs(v));
    assert.ok(scale > 0);
    assert.ok(maxAbsDiff(viaGraph.data, viaWrapper.data) <= 1e-4 * scale);
    await bakedClassifier.release();
  });

  it("a baked squeezer masks the gradient: autodiff through Round gives exactly zero, like the wrapper's naive gradient", async () => {
    const pre = [featureSqueezing({ bitDepth: 4 })];
    const { model } = bakePreprocessors(loadModel(MODEL), pre);
    const bakedClassifier = await OnnxClassifier.create(model);
    const some = sliceRows(x, 0, 4);
    const labels = [7, 2, 1, 0];
    const viaGraph = await bakedClassifier.lossGradient(some, labels);
    assert.ok(viaGraph.data.every((v) => v === 0));
    const naive = await defend(base, { preprocessors: pre, gradient: "naive" }).lossGradient(some, labels);
    assert.ok(naive.data.every((v) => v === 0));
    // BPDA through the run-time wrapper recovers a useful gradient.
    const bpda = await defend(base, { preprocessors: pre }).lossGradient(some, labels);
    assert.ok(bpda.data.some((v) => Math.abs(v) > 1e-4));
    await bakedClassifier.release();
  });

  it("Gaussian noise bakes as RandomNormalLike with the preprocessor's sigma", async () => {
    const { model } = bakePreprocessors(identityModel(["n", 1, 28, 28]), [gaussianNoise({ sigma: 0.25, clipRange: null })]);
    const zeros = float32([50, 1, 28, 28]);
    const out = await runBaked(model, zeros);
    let sum = 0;
    let squares = 0;
    for (const v of out.data) {
      sum += v;
      squares += v * v;
    }
    const mean = sum / out.data.length;
    const std = Math.sqrt(squares / out.data.length - mean * mean);
    assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
    assert.ok(Math.abs(std - 0.25) < 0.01, `std ${std}`);
  });

  it("only the expressible tail of a chain is baked; JPEG stays a run-time wrapper", () => {
    const jpeg = jpegCompression();
    const squeeze = featureSqueezing({ bitDepth: 4 });
    const tail = bakePreprocessors(loadModel(MODEL), [jpeg, squeeze]);
    assert.deepEqual(tail.runtime, [jpeg]);
    assert.deepEqual(tail.baked, [squeeze]);
    const head = bakePreprocessors(loadModel(MODEL), [squeeze, jpeg]);
    assert.deepEqual(head.runtime, [squeeze, jpeg]);
    assert.deepEqual(head.baked, []);
    assert.equal(head.model.graph.nodes.length, loadModel(MODEL).graph.nodes.length);
  });
});
