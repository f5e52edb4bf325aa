/**
 * NES (Ilyas et al. 2018) against the bundled, undefended MNIST CNN, through `predict` only:
 * within the paper's 10,000-query budget it must break nearly every sample at L∞ ε = 0.3.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { nes } from "../../src/attacks/evasion/nes.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { AegisError } from "../../src/errors.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const n = 30;
const x = sliceRows(mnist.x, 0, n);
const y = labelsOf(mnist.y).slice(0, n);

test("untargeted NES at L∞ ε=0.3 with ≤ 10,000 queries leaves ≤ 20% robust accuracy", async (t) => {
  const clf = await OnnxClassifier.fromFile(demo);
  let progress = 0;
  const out = await nes.run(clf, x, y, { ...nes.defaults, eps: 0.3 }, { rng: createRng(0), onProgress: (done) => (progress = done) });
  const m = await attackMetrics(clf, x, out.x, y, { queries: out.queries });
  t.diagnostic(`robust accuracy ${m.robust_accuracy}, L∞ ${m.perturbation.linf_mean.toFixed(3)}, queries mean ${m.queries?.mean} max ${m.queries?.max}`);
  // Measured: robust accuracy 0, L∞ 0.22, mean 2,233 queries, max 4,142.
  assert.ok(m.robust_accuracy <= 0.2, `robust accuracy ${m.robust_accuracy}`);
  assert.ok(m.perturbation.linf_mean <= 0.3 + 1e-6, `L∞ ${m.perturbation.linf_mean}`);
  assert.ok(m.queries && m.queries.max <= 10_000, `max queries ${m.queries?.max}`);
  assert.ok(m.queries && m.queries.mean <= 5_000, `mean queries ${m.queries?.mean}`);
  assert.equal(progress, n);
  await clf.release();
});

test("targeted NES sends most samples to the chosen class", async (t) => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 10);
  const ys = y.slice(0, 10);
  const targets = ys.map((c) => (c + 1) % 10);
  const out = await nes.run(clf, xs, targets, { ...nes.defaults, eps: 0.3, targeted: true }, { rng: createRng(1) });
  const m = await attackMetrics(clf, xs, out.x, ys, { targets, queries: out.queries });
  t.diagnostic(`targeted success ${m.success_rate}, queries mean ${m.queries?.mean}`);
  // Measured: 100% success, mean 3,718 queries.
  assert.ok(m.success_rate >= 0.7, `targeted success ${m.success_rate}`);
  assert.ok(m.queries && m.queries.max <= 10_000, `max queries ${m.queries?.max}`);
  await clf.release();
});

test("NES stops at once on an aborted signal and rejects a budget too small for one estimate", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 4);
  const signal = AbortSignal.abort();
  const out = await nes.run(clf, xs, y.slice(0, 4), { ...nes.defaults, eps: 0.3 }, { rng: createRng(0), signal });
  assert.deepEqual(out.x.data, xs.data);
  assert.deepEqual(Array.from(out.queries ?? []), [0, 0, 0, 0]);
  await assert.rejects(nes.run(clf, xs, y.slice(0, 4), { ...nes.defaults, maxQueries: 50 }, { rng: createRng(0) }), AegisError);
  await clf.release();
});
