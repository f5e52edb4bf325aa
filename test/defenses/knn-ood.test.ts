/**
 * The k-NN out-of-distribution detector (Sun et al. 2022) on the bundled MNIST CNN: its
 * threshold holds the chosen false-positive rate on clean digits it never saw, it flags
 * uniform noise and the Knockoff-style stand-ins for natural images (bench/extraction-streams.ts)
 * at high rates in the penultimate layer and in pixel space, the k-th-neighbour distance is
 * exact on a hand-made bank, and a saved detector scores identically and is bound to its model.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pinkNoiseStream, scrambledDigitsStream, shapesStream, stack, uniformNoiseStream } from "../../bench/extraction-streams.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { bankRows, fitKnnOod, inputFeatures, kthNearestDistances, layerFeatures } from "../../src/defenses/detectors/knn-ood.js";
import { loadDetector, saveDetector } from "../../src/defenses/detectors/persistence.js";
import { flaggedFraction } from "../../src/defenses/detectors/threshold.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { createFeatureExtractor } from "../../src/engine/features.js";
import { AegisError } from "../../src/errors.js";
import { loadModel, saveModel } from "../../src/onnx/io.js";
import { sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { train, test: mnistTest } = loadMnist();
// Bank: train digits 0–1,999; threshold: train digits 2,000–2,999; held out: the 2,000 test digits.
const fitSet = sliceRows(train.x, 0, 2000);
const calibration = sliceRows(train.x, 2000, 3000);
const heldOut = mnistTest.x;
const digits = Array.from({ length: 300 }, (_, i) => mnistTest.x.data.slice(i * 784, (i + 1) * 784));
const ood: [string, Tensor<"float32">][] = [
  ["uniform noise", stack(uniformNoiseStream(300, createRng(1)))],
  ["1/f noise", stack(pinkNoiseStream(300, createRng(2)))],
  ["shapes", stack(shapesStream(300, createRng(3)))],
  ["scrambled digits", stack(scrambledDigitsStream(digits, 300, createRng(4)))],
];

/** Binomial tolerance: |observed − p| within 3 standard deviations of the threshold's and the held-out set's sampling error. */
function assertRate(observed: number, p: number, calibrationSize: number, heldOutSize: number, what: string) {
  const sd = Math.sqrt(p * (1 - p) * (1 / calibrationSize + 1 / heldOutSize));
  assert.ok(Math.abs(observed - p) <= 3 * sd, `${what}: ${observed} is not within 3σ (${(3 * sd).toFixed(4)}) of ${p}`);
}

test("penultimate layer: the threshold's false-positive rate holds on unseen digits; noise and natural-image stand-ins are flagged", async (t) => {
  const extractor = await createFeatureExtractor(loadModel(demo));
  try {
    for (const fpr of [0.05, 0.01]) {
      const detector = await fitKnnOod(layerFeatures(extractor), fitSet, { calibration, fpr });
      assert.equal(detector.k, 5);
      assert.equal(detector.bank.size, 2000);
      assert.equal(detector.bank.dim, 128);
      const cleanRate = flaggedFraction(await detector.score(heldOut), detector.threshold);
      assertRate(cleanRate, fpr, 1000, 2000, `held-out FPR at ${fpr}`);
      const rates = Object.fromEntries(
        await Promise.all(ood.map(async ([name, x]) => [name, flaggedFraction(await detector.score(x), detector.threshold)] as const)),
      );
      t.diagnostic(`fpr ${fpr}: held-out ${cleanRate.toFixed(4)}, ${JSON.stringify(rates)}`);
      // Measured: at 5% all ≥ 0.97; at 1% uniform 1.00, 1/f 0.99, shapes 0.85, scrambled 0.85.
      assert.ok(rates["uniform noise"] >= 0.98, `uniform noise ${rates["uniform noise"]}`);
      assert.ok(rates["1/f noise"] >= 0.93, `1/f noise ${rates["1/f noise"]}`);
      assert.ok(rates.shapes >= 0.7, `shapes ${rates.shapes}`);
      assert.ok(rates["scrambled digits"] >= 0.7, `scrambled digits ${rates["scrambled digits"]}`);
    }
  } finally {
    await extractor.release();
  }
});

test("raw input space: the false-positive rate holds, and shapes and scrambled digits are flagged at ≥ 90%", async (t) => {
  const detector = await fitKnnOod(inputFeatures, fitSet, { calibration });
  assert.equal(detector.fpr, 0.01);
  assert.equal(detector.bank.dim, 784);
  const cleanRate = flaggedFraction(await detector.score(heldOut), detector.threshold);
  assertRate(cleanRate, 0.01, 1000, 2000, "held-out FPR");
  const rates = Object.fromEntries(
    await Promise.all(ood.map(async ([name, x]) => [name, flaggedFraction(await detector.score(x), detector.threshold)] as const)),
  );
  t.diagnostic(`held-out ${cleanRate.toFixed(4)}, ${JSON.stringify(rates)}`);
  // Measured: uniform 1.00, 1/f 0.98, shapes 0.96, scrambled 1.00.
  assert.ok(rates["uniform noise"] >= 0.98 && rates["1/f noise"] >= 0.93, JSON.stringify(rates));
  assert.ok(rates.shapes >= 0.9 && rates["scrambled digits"] >= 0.97, JSON.stringify(rates));
});

test("the score is the distance to the k-th nearest normalised bank vector", () => {
  // Unit vectors at 0°, 90°, 180° and 45°.
  const s = Math.SQRT1_2;
  const bank = { layer: "input", dim: 2, size: 4, features: Float32Array.from([1, 0, 0, 1, -1, 0, s, s]) };
  const query = Float32Array.from([1, 0]);
  // Distances from (1, 0): 0, √2, 2, √(2 − √2).
  const sorted = [0, Math.sqrt(2 - Math.SQRT2), Math.SQRT2, 2];
  for (let k = 1; k <= 4; k++) {
    const [d] = kthNearestDistances(bank, query, k);
    assert.ok(Math.abs(d - sorted[k - 1]) < 1e-6, `k ${k}: ${d} ≠ ${sorted[k - 1]}`);
  }
  assert.deepEqual(bankRows(3, 5), [0, 1, 2]);
  assert.deepEqual(bankRows(10, 4), [0, 2, 5, 7]);
});

test("fitting refuses a bank that leaves nothing to set the threshold on, and k larger than the bank", async () => {
  const small = sliceRows(train.x, 0, 50);
  await assert.rejects(
    fitKnnOod(inputFeatures, small, { bankSize: 100 }),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && /--calibration-data/.test(e.message),
  );
  await assert.rejects(fitKnnOod(inputFeatures, small, { bankSize: 10, k: 11 }), (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION");
  // 40 in the bank, the other 10 set the threshold.
  const detector = await fitKnnOod(inputFeatures, small, { bankSize: 40, fpr: 0.1 });
  assert.equal(detector.bank.size, 40);
  assert.ok(Number.isFinite(detector.threshold));
});

test("a saved k-NN detector scores identically after loading, stays small, and refuses another model", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-knn-ood-"));
  const extractor = await createFeatureExtractor(loadModel(demo));
  const penultimate = await fitKnnOod(layerFeatures(extractor), fitSet, { calibration });
  await extractor.release();
  const pixels = await fitKnnOod(inputFeatures, sliceRows(train.x, 0, 500), { calibration });
  const other = join(dir, "other.onnx");
  saveModel(other, buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 9 }));
  const probe = stack([...digits.slice(0, 30), ...uniformNoiseStream(30, createRng(5))]);
  for (const detector of [penultimate, pixels]) {
    const path = join(dir, `${detector.bank.dim}.json`);
    saveDetector(path, detector, demo, { data: "mnist-train", samples: detector.bank.size });
    const file = JSON.parse(readFileSync(path, "utf8"));
    assert.equal(file.detector, "knn-ood");
    assert.deepEqual(file.params, { layer: detector.bank.layer, k: 5, dim: detector.bank.dim, size: detector.bank.size });
    assert.equal(file.arrays.bank.dtype, "float32");
    // float32 as base64: 4 × 4/3 bytes per value, plus a small header.
    const values = detector.bank.size * detector.bank.dim;
    assert.ok(statSync(path).size < values * 5.4 + 2000, `${path}: ${statSync(path).size} bytes for ${values} values`);
    const loaded = await loadDetector(path, demo);
    assert.equal(loaded.detector.name, "knn-ood");
    assert.equal(loaded.detector.threshold, detector.threshold);
    assert.equal(loaded.detector.fpr, 0.01);
    assert.deepEqual(await loaded.detector.score(probe), await detector.score(probe));
    await loaded.release();
    await assert.rejects(loadDetector(path, other), (e: unknown) => e instanceof AegisError && e.code === "BAD_MODEL" && /aegis detect fit/.test(e.message));
  }
});
