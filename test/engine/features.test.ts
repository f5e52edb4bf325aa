/**
 * Feature extraction: the penultimate layer is found on the bundled CNN and on every
 * architecture Aegis builds; the features it returns reproduce the logits through the last
 * layer's own weights; the vector-Jacobian product matches central finite differences.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { ARCHITECTURES, buildArchitecture } from "../../src/engine/architectures.js";
import { createFeatureExtractor, penultimateValue } from "../../src/engine/features.js";
import { loadModel } from "../../src/onnx/io.js";
import { float32, sliceRows } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();

test("the penultimate layer of the bundled CNN is the ReLU before fc2, and its features give back the logits", async () => {
  const model = loadModel(demo);
  assert.equal(penultimateValue(model), "m/relu_20");
  const extractor = await createFeatureExtractor(model, { batchSize: 64 });
  const x = sliceRows(mnist.x, 0, 150); // three batches, the last one short
  const { features, scores } = await extractor.extract(x);
  assert.deepEqual(features.shape, [150, 128]);
  assert.deepEqual(scores.shape, [150, 10]);
  const weight = model.graph.initializers.find((t) => t.name === "fc2.weight")?.data as Float32Array;
  const bias = model.graph.initializers.find((t) => t.name === "fc2.bias")?.data as Float32Array;
  let maxError = 0;
  let negative = 0;
  for (let i = 0; i < 150; i++) {
    for (let k = 0; k < 10; k++) {
      let z = bias[k];
      for (let j = 0; j < 128; j++) z += features.data[i * 128 + j] * weight[k * 128 + j];
      maxError = Math.max(maxError, Math.abs(z - scores.data[i * 10 + k]));
    }
    for (let j = 0; j < 128; j++) if (features.data[i * 128 + j] < 0) negative++;
  }
  assert.ok(maxError < 1e-4, `logits rebuilt from the features differ by ${maxError}`);
  assert.equal(negative, 0, "post-ReLU features cannot be negative");
  await extractor.release();
});

test("every built-in architecture exposes the input of its last dense layer", async () => {
  // linear: its last dense layer reads the flattened 12×12 input.
  const expectedWidth: Record<string, number> = { mlp: 128, cnn: 128, "resnet-small": 64, linear: 144, "he-cnn": 64, "he-mlp": 64, "dp-cnn": 32 };
  for (const arch of ARCHITECTURES) {
    // dp-cnn's two stride-2 convolutions need at least 14×14 pixels.
    const inputShape = arch === "mlp" ? [20] : arch === "dp-cnn" ? [1, 14, 14] : [1, 12, 12];
    const model = buildArchitecture(arch, { inputShape, numClasses: 3, seed: 1 });
    const layer = penultimateValue(model);
    const consumer = model.graph.nodes.find((n) => n.inputs[0] === layer && n.opType === "Gemm");
    assert.ok(consumer, `${arch}: ${layer} does not feed a Gemm`);
    const extractor = await createFeatureExtractor(model);
    const rng = createRng(2);
    const x = float32(
      [5, ...inputShape],
      Float32Array.from({ length: 5 * inputShape.reduce((a, b) => a * b, 1) }, () => rng.next()),
    );
    const { features, scores } = await extractor.extract(x);
    assert.deepEqual(features.shape, [5, expectedWidth[arch]], arch);
    assert.deepEqual(scores.shape, [5, 3], arch);
    await extractor.release();
  }
});

test("vjp of the features matches central finite differences, for dense features and pooled feature maps", async () => {
  const model = buildArchitecture("cnn", { inputShape: [1, 10, 10], numClasses: 4, seed: 3 });
  const firstConv = model.graph.nodes.find((n) => n.opType === "Relu")?.outputs[0];
  for (const layer of [undefined, firstConv]) {
    const extractor = await createFeatureExtractor(model, { layer });
    const rng = createRng(5);
    const n = 3;
    const x = float32(
      [n, 1, 10, 10],
      Float32Array.from({ length: n * 100 }, () => rng.next()),
    );
    const width = (await extractor.extract(x)).features.shape[1];
    assert.equal(width, layer === undefined ? 128 : 32);
    const seed = float32(
      [n, width],
      Float32Array.from({ length: n * width }, () => rng.normal()),
    );
    const grad = await extractor.vjp(x, seed);
    assert.deepEqual(grad.shape, x.shape);
    const objective = async (t: typeof x) => {
      const f = (await extractor.extract(t)).features.data;
      let s = 0;
      for (let i = 0; i < f.length; i++) s += f[i] * seed.data[i];
      return s;
    };
    // The largest gradients are checked: the ReLU network is piecewise linear, so a small step
    // stays on one linear piece and the difference quotient is exact up to float32 rounding.
    const order = Array.from(grad.data.keys()).sort((a, b) => Math.abs(grad.data[b]) - Math.abs(grad.data[a]));
    const h = 1e-3;
    let worst = 0;
    for (const k of order.slice(0, 12)) {
      const plus = Float32Array.from(x.data);
      const minus = Float32Array.from(x.data);
      plus[k] += h;
      minus[k] -= h;
      const fd = ((await objective(float32(x.shape, plus))) - (await objective(float32(x.shape, minus)))) / (2 * h);
      worst = Math.max(worst, Math.abs(fd - grad.data[k]) / Math.max(1e-3, Math.abs(grad.data[k])));
    }
    assert.ok(worst < 0.02, `${layer ?? "penultimate"}: largest relative error ${worst}`);
    // A zero seed gives a zero gradient: padding rows of a short batch contribute nothing.
    const zero = await extractor.vjp(x, float32([n, width]));
    assert.ok(zero.data.every((v) => v === 0));
    await extractor.release();
  }
});

test("feature maps are averaged per channel (Lee et al.), or flattened with pooling none", async () => {
  const model = loadModel(demo);
  const x = sliceRows(mnist.x, 0, 7);
  const pooled = await createFeatureExtractor(model, { layer: "m/relu_4" });
  const flat = await createFeatureExtractor(model, { layer: "m/relu_4", pooling: "none" });
  const p = (await pooled.extract(x)).features;
  const f = (await flat.extract(x)).features;
  assert.deepEqual(p.shape, [7, 32]);
  assert.deepEqual(f.shape, [7, 32 * 26 * 26]);
  const plane = 26 * 26;
  let worst = 0;
  for (let i = 0; i < 7; i++) {
    for (let c = 0; c < 32; c++) {
      let sum = 0;
      for (let j = 0; j < plane; j++) sum += f.data[(i * 32 + c) * plane + j];
      worst = Math.max(worst, Math.abs(sum / plane - p.data[i * 32 + c]));
    }
  }
  assert.ok(worst < 1e-5, `pooled features differ from the channel means by ${worst}`);
  await pooled.release();
  await flat.release();
});

test("a model whose output is not fed by a dense layer is refused with a message naming --layer", async () => {
  const model = buildArchitecture("cnn", { inputShape: [1, 8, 8], numClasses: 2, seed: 0 });
  // Cut the last Gemm out: the logits now come straight from a ReLU.
  const gemm = model.graph.nodes.filter((n) => n.opType === "Gemm").at(-1);
  assert.ok(gemm);
  const identity = model.graph.nodes.find((n) => n.opType === "Identity");
  assert.ok(identity);
  identity.inputs = [gemm.inputs[0]];
  assert.throws(() => penultimateValue(model), /--layer/);
});
