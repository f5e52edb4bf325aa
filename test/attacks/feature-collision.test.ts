/**
 * Feature collision (Shafahi et al. 2018, Poison Frogs) on the bundled MNIST CNN: the
 * poisons' penultimate features move onto the target's while each poison stays nearer its
 * base than the target is, labels unchanged; then the paper's measure of success — a last
 * layer retrained (transfer learning, features frozen) on the poisoned set classifies the
 * target as the base class, and one retrained on the clean set does not. Then
 * `aegis poison feature-collision` and its errors.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { decodeInputs, featureCollision, type PoisonManifest, poisonSuccess, retrainLastLayer } from "../../src/attacks/index.js";
import { createRng, loadDataset, loadMnist, saveNpz } from "../../src/data/index.js";
import { createFeatureExtractor, OnnxClassifier } from "../../src/engine/index.js";
import { AegisError } from "../../src/errors.js";
import { gatherRows, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const modelFile = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const model = await OnnxClassifier.fromFile(modelFile, { threads: 1 });
const extractor = await createFeatureExtractor(model.exportModel(), { pooling: "none", threads: 1 });
const { train: trainSplit, test: testSplit } = loadMnist();
const data = { x: sliceRows(trainSplit.x, 0, 500), labels: labelsOf(sliceRows(trainSplit.y, 0, 500)), numClasses: 10, source: "mnist" };
const testLabels = labelsOf(testSplit.y);
// Test digit 13 is a 4 the CNN gets right; the poisons are 9s, the class a 4 is most easily taken for.
const TARGET_INDEX = 13;
const BASE_CLASS = 9;
const targets = { x: gatherRows(testSplit.x, [TARGET_INDEX]), labels: [testLabels[TARGET_INDEX]] };
const params = { ...featureCollision.defaults, baseClass: BASE_CLASS, count: 5, maxIter: 100 };
const crafted = await featureCollision.poison(data, params, { rng: createRng(0), model, targets });
const refused = (code: string) => (e: unknown) => e instanceof AegisError && e.code === code;

after(async () => {
  await extractor.release();
  await model.release();
});

const row = 784;
const sample = (x: Tensor<"float32">, i: number) => x.data.subarray(i * row, (i + 1) * row);
const l2 = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.sqrt(Array.from(a).reduce((s, v, k) => s + (v - b[k]) ** 2, 0));
const features = async (x: Tensor<"float32">) => (await extractor.extract(x)).features;

test("feature collision replaces 5 rows of class 9 with poisons whose features are ≥ 5× (mean ≥ 20×) nearer the target's, each nearer its base than the target is", async () => {
  const m = crafted.manifest;
  assert.equal(targets.labels[0], 4);
  assert.equal(m.poisoned.length, 5);
  assert.ok(m.poisoned.every((r) => data.labels[r] === BASE_CLASS));
  assert.deepEqual(crafted.labels, data.labels, "clean-label: no label changes");
  assert.equal(m.goal.kind, "targeted");
  assert.ok(m.goal.kind === "targeted");
  assert.equal(m.goal.adversarial_class, BASE_CLASS);
  assert.deepEqual(decodeInputs(m.goal.targets).x.data, targets.x.data);
  assert.equal(m.trigger, null);
  for (let i = 0; i < 500; i++) if (!m.poisoned.includes(i)) assert.deepEqual(sample(crafted.x, i), sample(data.x, i));
  const target = (await features(targets.x)).data;
  const [before, after] = [await features(gatherRows(data.x, m.poisoned)), await features(gatherRows(crafted.x, m.poisoned))];
  const dim = target.length;
  const ratios = m.poisoned.map(
    (_, i) => l2(before.data.subarray(i * dim, (i + 1) * dim), target) ** 2 / l2(after.data.subarray(i * dim, (i + 1) * dim), target) ** 2,
  );
  assert.ok(
    ratios.every((r) => r >= 5),
    `feature distance fell by ${ratios.map((r) => r.toFixed(1))}`,
  );
  assert.ok(ratios.reduce((a, b) => a + b, 0) / ratios.length >= 20, `mean fall ${ratios.map((r) => r.toFixed(1))}`);
  for (const r of m.poisoned) {
    const [poison, base] = [sample(crafted.x, r), sample(data.x, r)];
    assert.ok(poison.every((v) => v >= 0 && v <= 1));
    const [moved, gap] = [l2(poison, base), l2(targets.x.data, base)];
    assert.ok(moved > 1, `row ${r} moved only ${moved}`);
    assert.ok(moved < gap && moved <= 7.5, `row ${r}: poison ${moved.toFixed(2)} from its base, the target ${gap.toFixed(2)}`);
  }
});

test("a last layer retrained on the poisoned set classifies the target as 9; retrained on the clean set, as 4, at the same test accuracy", async () => {
  const evaluation = { x: sliceRows(testSplit.x, 100, 600), labels: testLabels.slice(100, 600) };
  const poisoned = await retrainLastLayer(model, crafted);
  const clean = await retrainLastLayer(model, data);
  try {
    const hit = await poisonSuccess(poisoned, evaluation, crafted.manifest);
    const control = await poisonSuccess(clean, evaluation, crafted.manifest);
    assert.equal(hit.attack_success_rate, 1, "the target is classified as the base class");
    assert.equal(control.attack_success_rate, 0, "without the poisons it is not");
    assert.ok(control.clean_accuracy > 0.9, `clean last layer: ${control.clean_accuracy}`);
    assert.ok(Math.abs(hit.clean_accuracy - control.clean_accuracy) <= 0.02, `test accuracy ${hit.clean_accuracy} vs ${control.clean_accuracy}`);
  } finally {
    await poisoned.release();
    await clean.release();
  }
});

test("feature collision refuses a missing model or target, a base class equal to the target's, a bad watermark and too many poisons", async () => {
  const context = { rng: createRng(0), model, targets };
  await assert.rejects(featureCollision.poison(data, params, { rng: createRng(0), targets }), refused("BAD_OPTION"));
  await assert.rejects(featureCollision.poison(data, params, { rng: createRng(0), model }), refused("BAD_OPTION"));
  await assert.rejects(featureCollision.poison(data, { ...params, baseClass: 4 }, context), refused("BAD_OPTION"));
  await assert.rejects(featureCollision.poison(data, { ...params, watermark: 1 }, context), refused("BAD_OPTION"));
  await assert.rejects(featureCollision.poison(data, { ...params, count: 500 }, context), refused("BAD_OPTION"));
  await assert.rejects(featureCollision.poison(data, { ...params, layer: "no-such-value" }, context), refused("BAD_OPTION"));
});

test("aegis poison feature-collision writes the set and a targeted manifest; without --target-data for a file, or with --fraction, it exits 2", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-feature-collision-"));
  const input = join(dir, "train.npz");
  const y = labelsOf(sliceRows(trainSplit.y, 0, 200));
  saveNpz(input, { x: sliceRows(trainSplit.x, 0, 200), y: { dtype: "int64", shape: [200], data: BigInt64Array.from(y, BigInt) } });
  const [out, manifest] = [join(dir, "poisoned.npz"), join(dir, "poison.json")];
  const common = ["poison", "feature-collision", "--data", input, "--model", modelFile, "--out", out, "--manifest", manifest, "--threads", "1"];
  const run = await aegis([
    ...common,
    "--target-data",
    "mnist",
    "--target-index",
    "13",
    "--base-class",
    "9",
    "--count",
    "2",
    "--max-iter",
    "5",
    "--watermark",
    "0.3",
  ]);
  assert.equal(run.code, 0, run.stderr);
  const written = JSON.parse(readFileSync(manifest, "utf8")) as PoisonManifest;
  assert.equal(written.attack, "feature-collision");
  assert.equal(written.poisoned.length, 2);
  assert.equal(written.params.watermark, 0.3);
  assert.ok(written.goal.kind === "targeted" && written.goal.adversarial_class === 9 && written.goal.targets.labels[0] === 4);
  const poisoned = loadDataset(out);
  assert.ok(poisoned.y);
  assert.deepEqual(labelsOf(poisoned.y), y, "labels unchanged");
  assert.ok(written.poisoned.every((r) => y[r] === 9));
  const noTargetData = await aegis([...common, "--target-index", "13", "--base-class", "9"]);
  assert.equal(noTargetData.code, 2, noTargetData.stderr);
  assert.match(noTargetData.stderr, /--target-data/);
  const fraction = await aegis([...common, "--target-data", "mnist", "--target-index", "13", "--base-class", "9", "--fraction", "0.1"]);
  assert.equal(fraction.code, 2, fraction.stderr);
});
