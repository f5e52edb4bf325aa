/**
 * HopSkipJumpAttack (Chen, Jordan & Wainwright 2020) on the bundled, undefended MNIST CNN:
 * a decision-only attack whose adversarial examples shrink toward the boundary as queries
 * are spent. A broken gradient estimate or step search leaves them at the size of the
 * random-noise start (L2 ≈ 5–8).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { hopskipjump } from "../../src/attacks/evasion/hopskipjump.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import type { Predictor } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { float32, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const clf = await OnnxClassifier.fromFile(demo);
const x = sliceRows(mnist.x, 0, 10);
const y = labelsOf(mnist.y).slice(0, 10);

test("untargeted L2: every sample is fooled, and the mean L2 drops from 1k to 5k queries", async (t) => {
  const sizes: number[] = [];
  for (const maxQueries of [1000, 5000]) {
    const start = Date.now();
    const out = await hopskipjump.run(clf, x, y, { ...hopskipjump.defaults, maxQueries }, { rng: createRng(0) });
    const m = await attackMetrics(clf, x, out.x, y, { queries: out.queries });
    t.diagnostic(
      `${maxQueries} queries: success ${m.success_rate} L2 mean ${m.perturbation.l2_mean.toFixed(3)} median ${m.perturbation.l2_median.toFixed(3)} queries max ${m.queries?.max} ${(Date.now() - start) / 1000}s`,
    );
    assert.equal(m.success_rate, 1, "a decision-based attack always ends on the adversarial side");
    assert.ok((m.queries?.max ?? Infinity) <= maxQueries, "budget respected");
    sizes.push(m.perturbation.l2_mean);
  }
  // Measured: 2.99 at 1k, 2.04 at 5k; the noise start is at L2 ≈ 5–8.
  assert.ok(sizes[0] <= 3.5, `mean L2 at 1k queries ${sizes[0]}`);
  assert.ok(sizes[1] <= 2.4, `mean L2 at 5k queries ${sizes[1]}`);
  assert.ok(sizes[1] < 0.85 * sizes[0], `more queries shrink the perturbation (${sizes[0]} → ${sizes[1]})`);
});

test("untargeted L∞ at 2k queries finds perturbations below ε = 0.3", async (t) => {
  const out = await hopskipjump.run(clf, x, y, { ...hopskipjump.defaults, norm: "inf", maxQueries: 2000 }, { rng: createRng(1) });
  const m = await attackMetrics(clf, x, out.x, y, { queries: out.queries });
  t.diagnostic(`success ${m.success_rate} L∞ mean ${m.perturbation.linf_mean.toFixed(3)} max-queries ${m.queries?.max}`);
  assert.equal(m.success_rate, 1);
  // Measured: 0.229.
  assert.ok(m.perturbation.linf_mean <= 0.28, `mean L∞ ${m.perturbation.linf_mean}`);
});

test("targeted L2 starts from an input of the target class and reaches it", async (t) => {
  // Each sample's target is the next sample's class, so the batch holds a starting image for it.
  const targets = y.map((_, i) => y[(i + 1) % y.length]);
  const out = await hopskipjump.run(clf, x, targets, { ...hopskipjump.defaults, targeted: true, maxQueries: 1000 }, { rng: createRng(2) });
  const m = await attackMetrics(clf, x, out.x, y, { targets, queries: out.queries });
  t.diagnostic(`targeted success ${m.success_rate.toFixed(3)} L2 mean ${m.perturbation.l2_mean.toFixed(3)}`);
  assert.equal(m.success_rate, 1, "starting from an input of the target class, every sample ends there");
  assert.ok(m.perturbation.l2_mean <= 4, `mean L2 ${m.perturbation.l2_mean}`);
});

test("only the decision matters: a label-only model gives the same result; eps stops early; abort returns at once", async () => {
  const xs = sliceRows(x, 0, 4);
  const ys = y.slice(0, 4);
  const labelOnly: Predictor = {
    inputShape: clf.inputShape,
    numClasses: 10,
    clipRange: [0, 1],
    outputKind: "probs",
    predict: async (t: Tensor<"float32">) => {
      const logits = await clf.predict(t);
      const out = new Float32Array(t.shape[0] * 10);
      for (let i = 0; i < t.shape[0]; i++) out[i * 10 + argmaxRow(logits, i)] = 1;
      return float32([t.shape[0], 10], out);
    },
  };
  const params = { ...hopskipjump.defaults, maxQueries: 400 };
  const a = await hopskipjump.run(clf, xs, ys, params, { rng: createRng(5) });
  const b = await hopskipjump.run(labelOnly, xs, ys, params, { rng: createRng(5) });
  assert.deepEqual(Array.from(a.queries as Int32Array), Array.from(b.queries as Int32Array));
  assert.deepEqual(a.x.data, b.x.data);

  const early = await hopskipjump.run(clf, xs, ys, { ...hopskipjump.defaults, eps: 4, maxQueries: 5000 }, { rng: createRng(5) });
  const spent = Array.from(early.queries as Int32Array);
  assert.ok(Math.max(...spent) < 1000, `eps=4 is reached early (${spent})`);

  const controller = new AbortController();
  const aborted = await hopskipjump.run(
    clf,
    x,
    y,
    { ...hopskipjump.defaults, batchSize: 4 },
    { rng: createRng(5), signal: controller.signal, onProgress: () => controller.abort() },
  );
  const q = aborted.queries as Int32Array;
  for (let i = 4; i < 10; i++) assert.equal(q[i], 1, "later batches spent only the clean query");
  for (let k = 4 * 784; k < 10 * 784; k++) assert.equal(aborted.x.data[k], x.data[k]);
});
