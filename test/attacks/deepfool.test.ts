/**
 * DeepFool on the bundled, undefended MNIST CNN: it fools nearly every sample with an L2
 * perturbation of the size the literature reports for MNIST CNNs (~1.5–2), larger than
 * C&W's optimised one; eps only filters what counts as a success.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { carliniWagnerL2 } from "../../src/attacks/evasion/carlini-wagner-l2.js";
import { deepFool } from "../../src/attacks/evasion/deepfool.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { isAegisError } from "../../src/errors.js";
import { labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const n = 100;
const x = sliceRows(mnist.x, 0, n);
const y = labelsOf(mnist.y).slice(0, n);
const row = 784;

function l2s(x0: Tensor<"float32">, adv: Tensor<"float32">): number[] {
  const out: number[] = [];
  for (let i = 0; i < x0.shape[0]; i++) {
    let sq = 0;
    for (let k = i * row; k < (i + 1) * row; k++) sq += (adv.data[k] - x0.data[k]) ** 2;
    out.push(Math.sqrt(sq));
  }
  return out;
}

test("DeepFool L2 fools ≥ 95% of 100 samples at mean L2 between 1.2 and 2.2; eps filters the successes", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const progress: number[] = [];
  const out = await deepFool.run(clf, x, y, deepFool.defaults, { rng: createRng(0), onProgress: (d) => progress.push(d) });
  const m = await attackMetrics(clf, x, out.x, y);
  // Measured: 100% success, mean L2 1.76.
  assert.ok(m.success_rate >= 0.95, `success rate ${m.success_rate}`);
  assert.ok(m.perturbation.l2_mean > 1.2 && m.perturbation.l2_mean < 2.2, `mean L2 ${m.perturbation.l2_mean}`);
  assert.deepEqual(progress, [n]);
  const sizes = l2s(x, out.x);
  const preds = await clf.predict(out.x);
  for (let i = 0; i < n; i++) if (sizes[i] > 0) assert.notEqual(argmaxRow(preds, i), y[i], `sample ${i} changed but still classified correctly`);

  // The same run with eps = 1.5 keeps exactly the examples within 1.5 (DeepFool is deterministic).
  const capped = await deepFool.run(clf, x, y, { ...deepFool.defaults, eps: 1.5 }, { rng: createRng(0) });
  const cappedSizes = l2s(x, capped.x);
  for (let i = 0; i < n; i++) assert.equal(cappedSizes[i] > 0, sizes[i] > 0 && sizes[i] <= 1.5, `sample ${i}: L2 ${sizes[i]} vs capped ${cappedSizes[i]}`);
  await clf.release();
});

test("DeepFool's perturbations are larger than C&W L2's on the same samples", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 30);
  const ys = y.slice(0, 30);
  const df = await deepFool.run(clf, xs, ys, deepFool.defaults, { rng: createRng(0) });
  const cw = await carliniWagnerL2.run(clf, xs, ys, carliniWagnerL2.defaults, { rng: createRng(0) });
  const dfSizes = l2s(xs, df.x);
  const cwSizes = l2s(xs, cw.x);
  const both = dfSizes.map((_, i) => i).filter((i) => dfSizes[i] > 0 && cwSizes[i] > 0);
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const dfMean = mean(both.map((i) => dfSizes[i]));
  const cwMean = mean(both.map((i) => cwSizes[i]));
  // Measured on these 29: DeepFool 1.60, C&W 1.38.
  assert.ok(both.length >= 27, `${both.length} samples fooled by both`);
  assert.ok(cwMean < dfMean, `C&W mean L2 ${cwMean} vs DeepFool ${dfMean}`);
  await clf.release();
});

test("DeepFool L∞ fools ≥ 95% of 100 samples at mean L∞ < 0.2, and rejects targeted runs", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const out = await deepFool.run(clf, x, y, { ...deepFool.defaults, norm: "inf" }, { rng: createRng(0) });
  const m = await attackMetrics(clf, x, out.x, y);
  // Measured: 100% success, mean L∞ 0.142 (C&W L∞: 0.137).
  assert.ok(m.success_rate >= 0.95, `success rate ${m.success_rate}`);
  assert.ok(m.perturbation.linf_mean < 0.2, `mean L∞ ${m.perturbation.linf_mean}`);
  await assert.rejects(
    deepFool.run(clf, x, y, { ...deepFool.defaults, targeted: true }, { rng: createRng(0) }),
    (e) => isAegisError(e) && e.code === "BAD_OPTION",
  );
  await clf.release();
});
