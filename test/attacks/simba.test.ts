/**
 * SimBA (Guo et al. 2019) on the bundled, undefended MNIST CNN: with ε = 0.2 per basis step a
 * correct implementation fools nearly every sample within a few hundred queries, and every
 * accepted step adds exactly ε along a fresh orthogonal direction.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { simba } from "../../src/attacks/evasion/simba.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { AegisError } from "../../src/errors.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const clf = await OnnxClassifier.fromFile(demo);
const x = sliceRows(mnist.x, 0, 50);
const y = labelsOf(mnist.y).slice(0, 50);

test("SimBA-DCT (ε=0.2, low frequencies first) fools ≥ 95% of 50 samples with a small L2", async (t) => {
  const start = Date.now();
  const out = await simba.run(clf, x, y, { ...simba.defaults, maxIter: 2000 }, { rng: createRng(0) });
  const m = await attackMetrics(clf, x, out.x, y, { queries: out.queries });
  t.diagnostic(
    `success ${m.success_rate.toFixed(3)} robust ${m.robust_accuracy} L2 mean ${m.perturbation.l2_mean.toFixed(3)} median ${m.perturbation.l2_median.toFixed(3)} queries mean ${m.queries?.mean} max ${m.queries?.max} ${(Date.now() - start) / 1000}s`,
  );
  // Measured: 100% success, mean L2 2.13, mean 259 queries.
  assert.ok(m.success_rate >= 0.95, `success ${m.success_rate}`);
  assert.ok(m.perturbation.l2_mean <= 2.6, `mean L2 ${m.perturbation.l2_mean}`);
  assert.ok((m.queries?.mean ?? Infinity) <= 400, `mean queries ${m.queries?.mean}`);
  assert.ok((m.queries?.max ?? Infinity) <= 1 + 2 * 2000, "at most two queries per iteration");
});

test("pixel SimBA, one pass over the pixels: ≥ 80% fooled, no pixel moved more than ε", async (t) => {
  const xs = sliceRows(x, 0, 30);
  const ys = y.slice(0, 30);
  const out = await simba.run(clf, xs, ys, { ...simba.defaults, basis: "pixel", maxIter: 784 }, { rng: createRng(1) });
  const m = await attackMetrics(clf, xs, out.x, ys, { queries: out.queries });
  t.diagnostic(
    `success ${m.success_rate.toFixed(3)} L2 mean ${m.perturbation.l2_mean.toFixed(3)} L∞ max-mean ${m.perturbation.linf_mean.toFixed(3)} queries mean ${m.queries?.mean}`,
  );
  // Measured: 100% success, mean L2 2.9.
  assert.ok(m.success_rate >= 0.8, `success ${m.success_rate}`);
  assert.ok(m.perturbation.l2_mean <= 3.5, `mean L2 ${m.perturbation.l2_mean}`);
  for (let k = 0; k < xs.data.length; k++) assert.ok(Math.abs(out.x.data[k] - xs.data[k]) <= 0.2 + 1e-6, `pixel ${k} moved by more than ε`);
});

test("targeted SimBA raises the target's probability until it wins", async (t) => {
  const xs = sliceRows(x, 0, 20);
  const targets = y.slice(0, 20).map((c) => (c + 1) % 10);
  const out = await simba.run(clf, xs, targets, { ...simba.defaults, targeted: true, maxIter: 3000 }, { rng: createRng(2) });
  const m = await attackMetrics(clf, xs, out.x, y.slice(0, 20), { targets, queries: out.queries });
  t.diagnostic(`targeted success ${m.success_rate.toFixed(3)} L2 mean ${m.perturbation.l2_mean.toFixed(3)} queries mean ${m.queries?.mean}`);
  assert.ok(m.success_rate >= 0.9, `targeted success ${m.success_rate}`);
});

test("SimBA refuses norms other than L2 and stops on abort with later samples untouched", async () => {
  await assert.rejects(
    simba.run(clf, sliceRows(x, 0, 2), y.slice(0, 2), { ...simba.defaults, norm: "inf" }, { rng: createRng(0) }),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION",
  );
  const controller = new AbortController();
  const out = await simba.run(
    clf,
    sliceRows(x, 0, 20),
    y.slice(0, 20),
    { ...simba.defaults, batchSize: 5 },
    { rng: createRng(0), signal: controller.signal, onProgress: () => controller.abort() },
  );
  const q = out.queries as Int32Array;
  for (let i = 5; i < 20; i++) assert.equal(q[i], 0);
  for (let k = 5 * 784; k < 20 * 784; k++) assert.equal(out.x.data[k], x.data[k]);
});
