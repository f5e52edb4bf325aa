/**
 * Auto-PGD: the targeted DLR loss of the engine against an independent computation, the
 * paper's checkpoint schedule, and attack strength on the bundled MNIST CNN
 * (models/mnist-cnn.onnx): APGD must break it at least as well as PGD.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { apgdCe, apgdDlr, apgdT, checkpoints } from "../../src/attacks/evasion/apgd.js";
import { pgd } from "../../src/attacks/evasion/pgd.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { AegisError } from "../../src/errors.js";
import { float32, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const fixture = new URL("../../fixtures/models/cnn_maxpool.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const x = sliceRows(mnist.x, 0, 100);
const y = labelsOf(mnist.y).slice(0, 100);

/** Per-sample cross-entropy of the model's logits. */
function crossEntropy(logits: Tensor<"float32">, labels: readonly number[]): number[] {
  const k = logits.shape[1];
  return labels.map((c, i) => {
    const z = logits.data.subarray(i * k, (i + 1) * k);
    const top = Math.max(...z);
    const lse = top + Math.log(z.reduce((s, v) => s + Math.exp(v - top), 0));
    return lse - z[c];
  });
}

test("the targeted DLR loss: value from the logits, input gradient by the quotient rule over class gradients", async () => {
  const clf = await OnnxClassifier.fromFile(fixture);
  const rng = createRng(3);
  const xs = float32(
    [6, 1, 28, 28],
    Float32Array.from({ length: 6 * 784 }, () => rng.next()),
  );
  const logits = await clf.predict(xs);
  const labels = [0, 1, 2, 3, 4, 5];
  const targets = [9, 8, 7, 6, 5, 5];
  const { loss, grad } = await clf.valueAndGradient(xs, labels, { loss: "dlr-targeted", targets });
  const k = 10;
  const classGrads = await Promise.all([...Array(k).keys()].map((c) => clf.classGradient(xs, new Array(6).fill(c))));
  for (let i = 0; i < 6; i++) {
    const z = Array.from(logits.data.subarray(i * k, (i + 1) * k));
    const order = [...z.keys()].sort((a, b) => z[b] - z[a]);
    const num = z[labels[i]] - z[targets[i]];
    const den = z[order[0]] - (z[order[2]] + z[order[3]]) / 2 + 1e-12;
    assert.ok(Math.abs(loss[i] - -num / den) < 1e-5 * Math.max(1, Math.abs(num / den)), `sample ${i}: loss ${loss[i]} vs ${-num / den}`);
    let scale = 0;
    let err = 0;
    for (let j = 0; j < 784; j++) {
      const g = (c: number) => classGrads[c].data[i * 784 + j];
      const dNum = g(labels[i]) - g(targets[i]);
      const dDen = g(order[0]) - (g(order[2]) + g(order[3])) / 2;
      const expected = -(dNum * den - num * dDen) / (den * den);
      scale = Math.max(scale, Math.abs(expected));
      err = Math.max(err, Math.abs(grad.data[i * 784 + j] - expected));
    }
    // y = t makes the loss identically zero.
    if (labels[i] === targets[i]) assert.equal(scale, 0);
    else assert.ok(err <= 1e-4 * scale, `sample ${i}: gradient error ${err} of ${scale}`);
  }
  await assert.rejects(clf.valueAndGradient(xs, labels, { loss: "dlr-targeted" }), (e) => e instanceof AegisError && e.code === "BAD_OPTION");
  await clf.release();
});

test("step-size checkpoints follow the paper: p₁ = 0.22, periods shrinking by 0.03 to at least 0.06", () => {
  assert.deepEqual([...checkpoints(100).keys()], [22, 41, 57, 70, 80, 87, 93, 99]);
  assert.deepEqual([...checkpoints(100).values()], [22, 19, 16, 13, 10, 7, 6, 6]);
});

test("APGD-CE L∞ at ε=0.3 leaves ≤ 2% robust accuracy on 100 samples", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const out = await apgdCe.run(clf, x, y, { ...apgdCe.defaults, eps: 0.3 }, { rng: createRng(0) });
  const m = await attackMetrics(clf, x, out.x, y);
  assert.ok(m.clean_accuracy > 0.95);
  assert.ok(m.robust_accuracy <= 0.02, `robust accuracy ${m.robust_accuracy}`);
  assert.ok(m.perturbation.linf_mean <= 0.3 + 1e-6);
  await clf.release();
});

test("APGD-CE at ε=0.1 is at least as strong as PGD-40: robust accuracy and the loss on samples neither breaks", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const outPgd = await pgd.run(clf, x, y, { ...pgd.defaults, eps: 0.1 }, { rng: createRng(0) });
  const outApgd = await apgdCe.run(clf, x, y, { ...apgdCe.defaults, eps: 0.1 }, { rng: createRng(0) });
  const mp = await attackMetrics(clf, x, outPgd.x, y);
  const ma = await attackMetrics(clf, x, outApgd.x, y);
  assert.ok(ma.robust_accuracy <= mp.robust_accuracy + 0.01, `APGD ${ma.robust_accuracy} vs PGD ${mp.robust_accuracy}`);
  assert.ok(ma.robust_accuracy < 0.9, `ε=0.1 must break some samples (robust ${ma.robust_accuracy})`);
  // Samples both leave robust: APGD's highest-loss point beats PGD's last iterate.
  const lp = crossEntropy(await clf.predict(outPgd.x), y);
  const la = crossEntropy(await clf.predict(outApgd.x), y);
  const both = y.flatMap((_, i) => (mp.perSample.robustCorrect[i] && ma.perSample.robustCorrect[i] ? [i] : []));
  const mean = (v: number[]) => v.reduce((s, a) => s + a, 0) / v.length;
  const higher = both.filter((i) => la[i] >= lp[i]).length;
  assert.ok(
    mean(both.map((i) => la[i])) >= mean(both.map((i) => lp[i])),
    `mean CE APGD ${mean(both.map((i) => la[i]))} vs PGD ${mean(both.map((i) => lp[i]))}`,
  );
  assert.ok(higher >= 0.8 * both.length, `APGD's loss is higher on ${higher} of ${both.length}`);
  await clf.release();
});

test("APGD-T at ε=0.3 fools ≥ 95% and APGD-DLR at ε=0.2 ≥ 95%; targeted APGD-T reaches the chosen class", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const t = await apgdT.run(clf, x, y, { ...apgdT.defaults, eps: 0.3 }, { rng: createRng(1) });
  const mt = await attackMetrics(clf, x, t.x, y);
  assert.ok(mt.success_rate >= 0.95, `APGD-T success ${mt.success_rate}`);
  const d = await apgdDlr.run(clf, x, y, { ...apgdDlr.defaults, eps: 0.2 }, { rng: createRng(2) });
  const md = await attackMetrics(clf, x, d.x, y);
  assert.ok(md.success_rate >= 0.95, `APGD-DLR success ${md.success_rate}`);
  assert.ok(md.perturbation.linf_mean <= 0.2 + 1e-6);

  const xs = sliceRows(x, 0, 50);
  const targets = y.slice(0, 50).map((c) => (c + 3) % 10);
  const tt = await apgdT.run(clf, xs, targets, { ...apgdT.defaults, eps: 0.3, targeted: true }, { rng: createRng(3) });
  const mtt = await attackMetrics(clf, xs, tt.x, y.slice(0, 50), { targets });
  assert.ok(mtt.success_rate >= 0.9, `targeted APGD-T success ${mtt.success_rate}`);
  await assert.rejects(
    apgdDlr.run(clf, xs, targets, { ...apgdDlr.defaults, targeted: true }, { rng: createRng(0) }),
    (e) => e instanceof AegisError && e.code === "BAD_OPTION",
  );
  await clf.release();
});

test("APGD-CE L2 at ε=1.5 is at least as strong as PGD-40 L2 and stays in the ball", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 50);
  const ys = y.slice(0, 50);
  const outPgd = await pgd.run(clf, xs, ys, { ...pgd.defaults, norm: "2", eps: 1.5 }, { rng: createRng(0) });
  const outApgd = await apgdCe.run(clf, xs, ys, { ...apgdCe.defaults, norm: "2", eps: 1.5 }, { rng: createRng(0) });
  const mp = await attackMetrics(clf, xs, outPgd.x, ys);
  const ma = await attackMetrics(clf, xs, outApgd.x, ys);
  assert.ok(ma.robust_accuracy <= mp.robust_accuracy + 0.02, `APGD ${ma.robust_accuracy} vs PGD ${mp.robust_accuracy}`);
  assert.ok(ma.robust_accuracy <= 0.6, `robust accuracy ${ma.robust_accuracy}`);
  for (let i = 0; i < 50; i++) {
    let sq = 0;
    for (let j = i * 784; j < (i + 1) * 784; j++) sq += (outApgd.x.data[j] - xs.data[j]) ** 2;
    assert.ok(Math.sqrt(sq) <= 1.5 + 1e-4, `sample ${i}: L2 ${Math.sqrt(sq)}`);
  }
  await clf.release();
});

test("an aborted APGD returns its input and reports progress", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 8);
  const controller = new AbortController();
  controller.abort();
  const out = await apgdCe.run(clf, xs, y.slice(0, 8), apgdCe.defaults, { rng: createRng(0), signal: controller.signal });
  assert.deepEqual(out.x.data, xs.data);
  const progress: number[] = [];
  await apgdCe.run(clf, xs, y.slice(0, 8), { ...apgdCe.defaults, batchSize: 4 }, { rng: createRng(0), onProgress: (done) => progress.push(done) });
  assert.equal(progress.at(-1), 8);
  await clf.release();
});
