import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { loadDataset } from "../../src/data/dataset.js";
import { createRng } from "../../src/data/random.js";
import { combinedDetector, conformalPValues, fitCombined } from "../../src/defenses/detectors/combined.js";
import { featureSqueezingDetector, MNIST_SQUEEZERS } from "../../src/defenses/detectors/feature-squeezing.js";
import { fitMahalanobis } from "../../src/defenses/detectors/mahalanobis.js";
import { loadDetector, saveDetector } from "../../src/defenses/detectors/persistence.js";
import { flaggedFraction } from "../../src/defenses/detectors/threshold.js";
import type { Detector } from "../../src/defenses/types.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { createFeatureExtractor } from "../../src/engine/features.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { loadModel } from "../../src/onnx/io.js";
import { float32, gatherRows, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-combined-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A detector whose score is one input feature. */
const feature = (k: number): Detector => ({
  name: `feature-${k}`,
  threshold: Number.POSITIVE_INFINITY,
  score: async (x) => Float32Array.from({ length: x.shape[0] }, (_, i) => x.data[i * x.shape[1] + k]),
});

function gaussian(n: number, seed: number, shift: [number, number] = [0, 0]): Tensor<"float32"> {
  const rng = createRng(seed);
  return float32(
    [n, 2],
    Float32Array.from({ length: 2 * n }, (_, j) => rng.normal() + shift[j % 2]),
  );
}

test("conformal p-values count the clean scores at least as high", () => {
  const reference = Float32Array.from([1, 2, 2, 3, 5]);
  assert.deepEqual(Array.from(conformalPValues(reference, [0, 2, 4, 9])), [1, 5 / 6, 2 / 6, 1 / 6]);
  assert.throws(() => combinedDetector([feature(0)], [], { threshold: 1 }), { code: "BAD_OPTION" });
});

test("the combination keeps its false-positive rate on new clean data and flags what either member alone would", async () => {
  const detector = await fitCombined([feature(0), feature(1)], gaussian(2000, 1), { fpr: 0.05 });
  const fpr = flaggedFraction(await detector.score(gaussian(4000, 2)), detector.threshold);
  assert.ok(Math.abs(fpr - 0.05) < 0.015, `FPR ${fpr}`);
  // Shifted in one feature only: each member sees half the anomalies, the combination nearly all.
  for (const shift of [
    [5, 0],
    [0, 5],
  ] as [number, number][]) {
    assert.ok(flaggedFraction(await detector.score(gaussian(500, 3, shift)), detector.threshold) > 0.95, `shift ${shift}`);
  }
  await assert.rejects(fitCombined([feature(0)], gaussian(10, 4)), { code: "BAD_DATA" });
});

// The PyTorch CNN and the examples another toolkit made against it (scripts/make_adversarial_fixtures.py).
const FIXTURES = new URL("../../fixtures/adversarial/", import.meta.url).pathname;
const MODEL = `${FIXTURES}torch_cnn.onnx`;

async function successful(model: OnnxClassifier, file: string): Promise<Tensor<"float32">> {
  const data = loadDataset(file);
  const labels = labelsOf(data.y as Tensor);
  const out = await model.predict(data.x);
  return gatherRows(
    data.x,
    labels.flatMap((y, i) => (argmaxRow(out, i) !== y ? [i] : [])),
  );
}

test("on a model Aegis did not train, the combined detector flags another toolkit's attacks at 5% false positives, and survives a save and load", async () => {
  assert.ok(existsSync(MODEL), "fixtures/adversarial is committed");
  const model = await OnnxClassifier.fromFile(MODEL);
  const onnx = loadModel(MODEL);
  const layer = onnx.graph.nodes.find((n) => n.opType === "Relu")?.outputs[0] as string;
  const extractor = await createFeatureExtractor(onnx, { layer });
  const train = loadDataset("mnist", { split: "train" });
  const test = loadDataset("mnist", { split: "test" });
  const mahalanobis = await fitMahalanobis(extractor, sliceRows(train.x, 0, 3000), labelsOf(sliceRows(train.y as Tensor, 0, 3000)));
  const squeezing = featureSqueezingDetector(model, { squeezers: MNIST_SQUEEZERS, threshold: Number.POSITIVE_INFINITY });
  const detector = await fitCombined([squeezing, mahalanobis], sliceRows(test.x, 0, 1000));
  const clean = sliceRows(test.x, 1000, 2000);
  const fpr = flaggedFraction(await detector.score(clean), detector.threshold);
  assert.ok(fpr <= 0.08, `false positives ${fpr}`);
  const rates: Record<string, number> = {};
  for (const name of ["cw0", "cw10", "ead", "pgd-l2", "autoattack"]) {
    const x = await successful(model, `${FIXTURES}torch_${name}.npz`);
    assert.ok(x.shape[0] >= 50, `${name}: ${x.shape[0]} successful examples`);
    rates[name] = flaggedFraction(await detector.score(x), detector.threshold);
  }
  // Measured (bench/adversarial-detection.ts has the full table); the bars leave a few points of margin.
  assert.ok(rates.cw0 >= 0.9, JSON.stringify(rates));
  assert.ok(
    Object.values(rates).every((r) => r >= 0.8),
    JSON.stringify(rates),
  );

  const file = join(dir, "combined.json");
  saveDetector(file, detector, MODEL, { data: "mnist", samples: 3000 });
  const loaded = await loadDetector(file, MODEL);
  assert.equal(loaded.detector.name, "combined");
  assert.deepEqual(await loaded.detector.score(sliceRows(clean, 0, 50)), await detector.score(sliceRows(clean, 0, 50)));
  await loaded.release();
  await extractor.release();
  await model.release();
});
