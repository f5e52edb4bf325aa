/**
 * Attack strength on the bundled, undefended MNIST CNN (models/mnist-cnn.onnx, trained by
 * `aegis train --arch cnn --dataset mnist --epochs 5 --seed 0`): a correct attack breaks it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fgsm } from "../../src/attacks/evasion/fgsm.js";
import { pgd } from "../../src/attacks/evasion/pgd.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const n = 200;
const x = sliceRows(mnist.x, 0, n);
const y = labelsOf(mnist.y).slice(0, n);

test("FGSM at ε=0.1 moves every pixel by exactly ±ε along the gradient's sign, or not at all at the box edge", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const g = await clf.lossGradient(x, y);
  const { x: adv } = await fgsm.run(clf, x, y, { ...fgsm.defaults, eps: 0.1 }, { rng: createRng(0) });
  for (let i = 0; i < x.data.length; i++) {
    const d = adv.data[i] - x.data[i];
    const s = Math.sign(g.data[i]);
    const expected = Math.min(1, Math.max(0, x.data[i] + 0.1 * s)) - x.data[i];
    assert.ok(Math.abs(d - expected) < 1e-6, `pixel ${i}: moved ${d}, expected ${expected}`);
  }
  await clf.release();
});

test("PGD-40 L∞ at ε=0.3 (step 0.01, one random start) leaves ≤ 5% robust accuracy", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const params = { ...pgd.defaults, eps: 0.3, epsStep: 0.01, maxIter: 40 };
  const out = await pgd.run(clf, x, y, params, { rng: createRng(0) });
  const m = await attackMetrics(clf, x, out.x, y);
  assert.ok(m.clean_accuracy > 0.95, `clean accuracy ${m.clean_accuracy}`);
  assert.ok(m.robust_accuracy <= 0.05, `robust accuracy ${m.robust_accuracy}`);
  assert.ok(m.perturbation.linf_mean <= 0.3 + 1e-6, `L∞ ${m.perturbation.linf_mean} within ε`);
  await clf.release();
});

test("PGD L2 at ε=2 and L1 at ε=10 break most samples and stay inside their balls", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 64);
  const ys = y.slice(0, 64);
  for (const [norm, eps] of [
    ["2", 2],
    ["1", 10],
  ] as const) {
    const out = await pgd.run(clf, xs, ys, { ...pgd.defaults, norm, eps, maxIter: 50 }, { rng: createRng(1) });
    const m = await attackMetrics(clf, xs, out.x, ys);
    assert.ok(m.robust_accuracy <= 0.3, `L${norm} robust accuracy ${m.robust_accuracy}`);
    const size = norm === "2" ? m.perturbation.l2_mean : undefined;
    if (size !== undefined) assert.ok(size <= eps + 1e-4, `mean L2 ${size}`);
  }
  await clf.release();
});

test("targeted PGD sends samples to the chosen class", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 64);
  const targets = y.slice(0, 64).map((c) => (c + 1) % 10);
  const out = await pgd.run(clf, xs, targets, { ...pgd.defaults, targeted: true, eps: 0.3, epsStep: 0.01, maxIter: 100 }, { rng: createRng(2) });
  const m = await attackMetrics(clf, xs, out.x, y.slice(0, 64), { targets });
  assert.ok(m.success_rate >= 0.9, `targeted success ${m.success_rate}`);
  await clf.release();
});
