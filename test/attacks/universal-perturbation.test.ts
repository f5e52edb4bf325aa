/**
 * Universal perturbations on the bundled MNIST CNN: one v computed on 200 training digits
 * must fool held-out test digits far more often than random noise of the same size.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { uap, universalPerturbation } from "../../src/attacks/evasion/universal-perturbation.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { rowNorm } from "../../src/attacks/norms.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { float32, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { train, test: held } = loadMnist();
const n = 200;
const xTrain = sliceRows(train.x, 0, n);
const yTrain = labelsOf(train.y).slice(0, n);
const xTest = sliceRows(held.x, 0, n);
const yTest = labelsOf(held.y).slice(0, n);

const addClipped = (x: Tensor<"float32">, v: Float32Array) =>
  float32(
    x.shape,
    Float32Array.from(x.data, (p, k) => Math.min(1, Math.max(0, p + v[k % v.length]))),
  );

/** Share of samples whose prediction changes when v is added. */
async function foolingRate(clf: OnnxClassifier, x: Tensor<"float32">, v: Float32Array): Promise<number> {
  const clean = await clf.predict(x);
  const adv = await clf.predict(addClipped(x, v));
  let fooled = 0;
  for (let i = 0; i < x.shape[0]; i++) if (argmaxRow(clean, i) !== argmaxRow(adv, i)) fooled++;
  return fooled / x.shape[0];
}

test("an L∞ UAP at ε=0.3 from 200 training digits fools ≥ 60% of 200 test digits; random ±ε noise fools ≤ 10%", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const out = await uap.run(clf, xTrain, yTrain, { ...uap.defaults, eps: 0.3 }, { rng: createRng(0) });
  const v = out.perturbation.data;
  assert.deepEqual(out.perturbation.shape, [1, 28, 28]);
  assert.ok(rowNorm(v, 0, v.length, "inf") <= 0.3 + 1e-6, "v stays in the ε-ball");
  assert.deepEqual(out.x.data, addClipped(xTrain, v).data, "the output is x + v, clipped");
  assert.ok(out.foolingRate >= 0.8, `stopped at a training fooling rate of ${out.foolingRate} after ${out.passes} passes, before 1 − δ`);

  const universal = await foolingRate(clf, xTest, v);
  const rng = createRng(5);
  const noise = Float32Array.from(v, () => (rng.next() < 0.5 ? -0.3 : 0.3));
  const random = await foolingRate(clf, xTest, noise);
  assert.ok(universal >= 0.6, `held-out fooling rate ${universal}`);
  assert.ok(random <= 0.1, `random-noise fooling rate ${random}`);
  const m = await attackMetrics(clf, xTest, addClipped(xTest, v), yTest);
  assert.ok(m.robust_accuracy <= 0.4, `held-out robust accuracy ${m.robust_accuracy}`);
  await clf.release();
});

test("an L2 UAP at ε=4 fools ≥ 55% of held-out digits; random noise of the same L2 norm fools ≤ 10%", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const { perturbation } = await universalPerturbation(clf, xTrain, { ...uap.defaults, norm: "2", eps: 4 }, { rng: createRng(1) });
  const v = perturbation.data;
  assert.ok(rowNorm(v, 0, v.length, "2") <= 4 + 1e-4, "v stays in the ε-ball");
  const rng = createRng(6);
  const noise = Float32Array.from(v, () => rng.normal());
  const scale = 4 / rowNorm(noise, 0, noise.length, "2");
  for (let k = 0; k < noise.length; k++) noise[k] *= scale;
  const universal = await foolingRate(clf, xTest, v);
  const random = await foolingRate(clf, xTest, noise);
  assert.ok(universal >= 0.55, `held-out fooling rate ${universal}`);
  assert.ok(random <= 0.1, `random-noise fooling rate ${random}`);
  await clf.release();
});

test("an aborted UAP returns the perturbation it has after the current sample", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const controller = new AbortController();
  let calls = 0;
  const out = await uap.run(
    clf,
    xTrain,
    yTrain,
    { ...uap.defaults, eps: 0.3 },
    {
      rng: createRng(0),
      signal: controller.signal,
      onProgress: () => {
        calls++;
        controller.abort();
      },
    },
  );
  assert.equal(out.passes, 0, "no pass completed");
  assert.equal(calls, 2, "one sample, then the final report");
  assert.ok(rowNorm(out.perturbation.data, 0, 784, "inf") <= 0.3 + 1e-6);
  await clf.release();
});

test("uap refuses targeted runs and L1", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const x = sliceRows(xTrain, 0, 4);
  await assert.rejects(uap.run(clf, x, [0, 0, 0, 0], { ...uap.defaults, targeted: true }, { rng: createRng(0) }), AegisError);
  await assert.rejects(uap.run(clf, x, [0, 0, 0, 0], { ...uap.defaults, norm: "1" }, { rng: createRng(0) }), /--norm inf or 2/);
  await clf.release();
});
