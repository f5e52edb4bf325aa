/**
 * AutoAttack on the bundled MNIST CNN (models/mnist-cnn.onnx): the ensemble's per-sample
 * worst case must be at least as strong as PGD, and it must say which attack broke what.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { autoattack, runAutoAttack } from "../../src/attacks/evasion/autoattack.js";
import { pgd } from "../../src/attacks/evasion/pgd.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { rowNorm } from "../../src/attacks/norms.js";
import { loadMnist, parseNpz } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { float32, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();

test("standard AutoAttack at ε=0.1 L∞ on 50 samples: robust accuracy ≤ PGD's, every break attributed and inside ε", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const x = sliceRows(mnist.x, 0, 50);
  const y = labelsOf(mnist.y).slice(0, 50);
  const outPgd = await pgd.run(clf, x, y, { ...pgd.defaults, eps: 0.1 }, { rng: createRng(0) });
  const mp = await attackMetrics(clf, x, outPgd.x, y);
  const progress: number[] = [];
  const out = await runAutoAttack(clf, x, y, { ...autoattack.defaults, eps: 0.1 }, { rng: createRng(0), onProgress: (d) => progress.push(d) });
  const m = await attackMetrics(clf, x, out.x, y);
  assert.deepEqual(out.attacks, ["apgd-ce", "apgd-t", "fab-t", "square"]);
  assert.ok(m.robust_accuracy <= mp.robust_accuracy, `AutoAttack ${m.robust_accuracy} vs PGD ${mp.robust_accuracy}`);
  assert.ok(m.robust_accuracy < 0.9, `robust accuracy ${m.robust_accuracy}`);
  for (let i = 0; i < 50; i++) {
    const by = out.brokenBy[i];
    assert.equal(by === null, m.perSample.robustCorrect[i], `sample ${i}: brokenBy ${by}`);
    assert.equal(by === "clean", !m.perSample.cleanCorrect[i], `sample ${i}: brokenBy ${by}`);
    const delta = out.x.data.subarray(i * 784, (i + 1) * 784).map((v, j) => v - x.data[i * 784 + j]);
    if (by === null || by === "clean") assert.equal(rowNorm(delta, 0, 784, "inf"), 0, `sample ${i} must stay at its input`);
    else assert.ok(rowNorm(delta, 0, 784, "inf") <= 0.1 + 1e-5, `sample ${i}: L∞ ${rowNorm(delta, 0, 784, "inf")}`);
  }
  assert.ok(
    out.brokenBy.some((b) => b === "apgd-ce"),
    "APGD-CE breaks some",
  );
  assert.ok(
    progress.every((d, j) => j === 0 || d >= progress[j - 1]),
    "progress is monotone",
  );
  // Square ran last on the samples left, with its full budget on those it could not break.
  assert.ok(out.queries && Math.max(...out.queries) <= 5000);
  await clf.release();
});

test("the rand version (APGD-CE and APGD-DLR with 20-draw EOT) breaks the CNN at ε=0.3", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const x = sliceRows(mnist.x, 0, 16);
  const y = labelsOf(mnist.y).slice(0, 16);
  const out = await runAutoAttack(clf, x, y, { ...autoattack.defaults, eps: 0.3, version: "rand" }, { rng: createRng(0) });
  assert.deepEqual(out.attacks, ["apgd-ce", "apgd-dlr"]);
  const m = await attackMetrics(clf, x, out.x, y);
  assert.equal(m.robust_accuracy, 0);
  assert.ok(out.brokenBy.every((b) => b === "apgd-ce" || b === "apgd-dlr" || b === "clean"));
  await clf.release();
});

test("AutoAttack on a 3-class tabular model leaves out Square and APGD-T; targeted and L1 are refused", async () => {
  const dir = new URL("../../fixtures/models/", import.meta.url);
  const clf = await OnnxClassifier.fromFile(new URL("tabular_mlp.onnx", dir).pathname, { clipRange: [-5, 5] });
  const ref = parseNpz(readFileSync(new URL("tabular_mlp.npz", dir)));
  const x = ref.get("x") as Tensor<"float32">;
  const y = labelsOf(ref.get("y") as Tensor);
  const out = await runAutoAttack(clf, x, y, { ...autoattack.defaults, eps: 1 }, { rng: createRng(0) });
  assert.deepEqual(out.attacks, ["apgd-ce", "fab-t"]);
  const m = await attackMetrics(clf, x, out.x, y);
  assert.ok(m.robust_accuracy < m.clean_accuracy, `robust ${m.robust_accuracy}, clean ${m.clean_accuracy}`);
  for (const p of [
    { ...autoattack.defaults, targeted: true },
    { ...autoattack.defaults, norm: "1" as const },
  ]) {
    await assert.rejects(autoattack.run(clf, x, y, p, { rng: createRng(0) }), (e) => e instanceof AegisError && e.code === "BAD_OPTION");
  }
  await clf.release();
});

test("Square joins AutoAttack on images only: a [6, 4] sample the caller knows is a sequence gets the gradient stages alone", async () => {
  const clf = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [6, 4], numClasses: 4, seed: 1 }));
  const rng = createRng(3);
  const x = float32(
    [4, 6, 4],
    Float32Array.from({ length: 96 }, () => rng.next()),
  );
  const clean = await clf.predict(x);
  const y = [0, 1, 2, 3].map((i) => argmaxRow(clean, i));
  const params = { ...autoattack.defaults, eps: 0.01 };
  const asSequence = await runAutoAttack(clf, x, y, params, { rng: createRng(0), inputKind: "sequence" });
  assert.deepEqual(asSequence.attacks, ["apgd-ce", "apgd-t", "fab-t"]);
  // Without the graph's word, a rank-2 sample is taken for an [H, W] image.
  const guessed = await runAutoAttack(clf, x, y, params, { rng: createRng(0) });
  assert.deepEqual(guessed.attacks, ["apgd-ce", "apgd-t", "fab-t", "square"]);
  await clf.release();
});
