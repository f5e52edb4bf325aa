/**
 * Adversarial patches on the bundled MNIST CNN: a patch trained on 200 training digits,
 * pasted at random places on 200 test digits, must send far more of them to its target
 * class than a random patch of the same size does.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { adversarialPatch, applyPatch, trainPatch } from "../../src/attacks/evasion/adversarial-patch.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { float32, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const fraudModel = new URL("../../fixtures/models/fraud_mlp.onnx", import.meta.url).pathname;
const { train, test: held } = loadMnist();
const n = 200;
const xTrain = sliceRows(train.x, 0, n);
const xTest = sliceRows(held.x, 0, n);
const yTest = labelsOf(held.y).slice(0, n);
const TARGET = 5;

/** Among test digits that are not the target, the share a patch at random places sends to the target. */
async function targetRate(clf: OnnxClassifier, patch: Tensor<"float32">): Promise<number> {
  const out = await clf.predict(applyPatch(xTest, patch, createRng(100)));
  let others = 0;
  let hits = 0;
  for (let i = 0; i < n; i++) {
    if (yTest[i] === TARGET) continue;
    others++;
    if (argmaxRow(out, i) === TARGET) hits++;
  }
  return hits / others;
}

const randomPatch = (like: Tensor<"float32">, seed: number) => {
  const rng = createRng(seed);
  return float32(
    like.shape,
    Float32Array.from(like.data, () => rng.next()),
  );
};

for (const [area, trained, random] of [
  [0.16, 0.15, 0.08],
  [0.36, 0.65, 0.2],
] as const) {
  test(`a patch of ${area * 100}% of the image sends ≥ ${trained * 100}% of held-out digits to the target; a random one ≤ ${random * 100}%`, async () => {
    const clf = await OnnxClassifier.fromFile(demo);
    const patch = await trainPatch(clf, xTrain, new Array(n).fill(TARGET), { ...adversarialPatch.defaults, eps: area }, { rng: createRng(TARGET) });
    const side = Math.round(Math.sqrt(area * 784));
    assert.deepEqual(patch.shape, [1, side, side]);
    assert.ok(
      patch.data.every((v) => v >= 0 && v <= 1),
      "the patch stays in the clip range",
    );
    const hit = await targetRate(clf, patch);
    const baseline = await targetRate(clf, randomPatch(patch, 7));
    assert.ok(hit >= trained, `trained patch: ${hit}`);
    assert.ok(baseline <= random, `random patch: ${baseline}`);
    await clf.release();
  });
}

test("the spec returns patched images that differ from the input only inside one square each", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const x = sliceRows(xTest, 0, 8);
  const params = { ...adversarialPatch.defaults, eps: 6, maxIter: 5 };
  const out = await adversarialPatch.run(clf, x, new Array(8).fill(TARGET), params, { rng: createRng(0) });
  assert.deepEqual(out.patch.shape, [1, 6, 6]);
  for (let i = 0; i < 8; i++) {
    let top = 28;
    let left = 28;
    let bottom = -1;
    let right = -1;
    for (let r = 0; r < 28; r++) {
      for (let c = 0; c < 28; c++) {
        const k = i * 784 + r * 28 + c;
        if (out.x.data[k] === x.data[k]) continue;
        top = Math.min(top, r);
        left = Math.min(left, c);
        bottom = Math.max(bottom, r);
        right = Math.max(right, c);
      }
    }
    assert.ok(bottom - top < 6 && right - left < 6, `sample ${i}: changes span rows ${top}..${bottom}, columns ${left}..${right}`);
  }
  await clf.release();
});

test("applyPatch places channels-last patches as squares, and scales them", () => {
  const x = float32([3, 8, 8, 3]);
  const patch = float32(
    [2, 2, 3],
    Array.from({ length: 12 }, (_, i) => i + 1),
  );
  const out = applyPatch(x, patch, createRng(0));
  for (let s = 0; s < 3; s++) {
    const changed: number[][] = [];
    for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) if (out.data[s * 192 + (i * 8 + j) * 3] !== 0) changed.push([i, j]);
    assert.equal(changed.length, 4);
    const [i0, j0] = changed[0];
    for (let c = 0; c < 3; c++) assert.equal(out.data[s * 192 + (i0 * 8 + j0) * 3 + c], c + 1, "channel c of the patch's first pixel");
  }
  const scaled = applyPatch(x, patch, createRng(0), { scaleMin: 2, scaleMax: 2 });
  const covered = Array.from({ length: 64 }, (_, p) => scaled.data[p * 3 + 2]).filter((v) => v !== 0);
  assert.equal(covered.length, 16, "a 2× patch covers 4×4 pixels");
});

test("adversarial-patch refuses tabular models, mixed targets and a patch larger than the image", async () => {
  const tabular = await OnnxClassifier.fromFile(fraudModel, { clipRange: [0, 10000] });
  await assert.rejects(
    adversarialPatch.run(tabular, float32([2, 12]), [0, 0], adversarialPatch.defaults, { rng: createRng(0) }),
    (e: unknown) => e instanceof AegisError && e.code === "UNSUPPORTED" && /needs images/.test(e.message),
  );
  await tabular.release();
  const clf = await OnnxClassifier.fromFile(demo);
  const x = sliceRows(xTest, 0, 2);
  await assert.rejects(adversarialPatch.run(clf, x, [1, 2], adversarialPatch.defaults, { rng: createRng(0) }), /one target class/);
  await assert.rejects(adversarialPatch.run(clf, x, [1, 1], { ...adversarialPatch.defaults, eps: 30 }, { rng: createRng(0) }), /does not fit a 28×28 image/);
  await clf.release();
});

test("an aborted patch run stops after the current step and still returns patched images", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const controller = new AbortController();
  let steps = 0;
  const x = sliceRows(xTest, 0, 4);
  const out = await adversarialPatch.run(clf, x, [TARGET, TARGET, TARGET, TARGET], adversarialPatch.defaults, {
    rng: createRng(0),
    signal: controller.signal,
    onProgress: (done, total) => {
      steps = done;
      assert.equal(total, adversarialPatch.defaults.maxIter);
      controller.abort();
    },
  });
  assert.equal(steps, 1);
  assert.deepEqual(out.x.shape, x.shape);
  await clf.release();
});
