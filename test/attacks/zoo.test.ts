/**
 * ZOO (Chen et al. 2017) against the bundled MNIST CNN, through scores only. The paper's
 * MNIST schedule (η = 0.01, 9 binary-search steps × 3000 iterations) spends millions of
 * queries per image; within a 10,000-query budget (38 iterations) one step at c = 1 with
 * η = 0.1 must still break most samples with a small L2 perturbation.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { zoo } from "../../src/attacks/evasion/zoo.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { labelsOf, sizeOf, sliceRows } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const n = 10;
const x = sliceRows(mnist.x, 0, n);
const y = labelsOf(mnist.y).slice(0, n);
const budget = { initialConst: 1, binarySearchSteps: 1, learningRate: 0.1, maxQueries: 10_000 };

test("ZOO-ADAM succeeds on ≥ 70% within 10,000 queries, with small L2, and returns only adversarial examples", async (t) => {
  const clf = await OnnxClassifier.fromFile(demo);
  let progress = 0;
  const out = await zoo.run(clf, x, y, { ...zoo.defaults, ...budget }, { rng: createRng(0), onProgress: (done) => (progress = done) });
  const m = await attackMetrics(clf, x, out.x, y, { queries: out.queries });
  t.diagnostic(`success ${m.success_rate}, mean L2 ${m.perturbation.l2_mean.toFixed(3)}, queries mean ${m.queries?.mean} max ${m.queries?.max}`);
  // Measured: success 100%, mean L2 1.92, 9,766 queries per sample (38 iterations).
  assert.ok(m.success_rate >= 0.7, `success ${m.success_rate}`);
  assert.ok(m.perturbation.l2_mean <= 2.4, `mean L2 ${m.perturbation.l2_mean}`);
  assert.ok(m.queries && m.queries.max <= budget.maxQueries, `max queries ${m.queries?.max}`);
  assert.equal(progress, n);
  // A failed sample comes back unchanged; a changed one is misclassified.
  const row = sizeOf(x.shape.slice(1));
  const pred = await clf.predict(out.x);
  for (let i = 0; i < n; i++) {
    const changed = out.x.data.subarray(i * row, (i + 1) * row).some((v, k) => v !== x.data[i * row + k]);
    if (changed) assert.notEqual(argmaxRow(pred, i), y[i], `sample ${i} returned changed but still classified ${y[i]}`);
  }
  await clf.release();
});

test("ZOO stops at once on an aborted signal and rejects options it cannot run", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 2);
  const ys = y.slice(0, 2);
  const out = await zoo.run(clf, xs, ys, zoo.defaults, { rng: createRng(0), signal: AbortSignal.abort() });
  assert.deepEqual(out.x.data, xs.data);
  assert.deepEqual(Array.from(out.queries ?? []), [0, 0]);
  await assert.rejects(zoo.run(clf, xs, ys, { ...zoo.defaults, norm: "inf" }, { rng: createRng(0) }), AegisError);
  await assert.rejects(zoo.run(clf, xs, ys, { ...zoo.defaults, maxQueries: 100 }, { rng: createRng(0) }), AegisError);
  await clf.release();
});
