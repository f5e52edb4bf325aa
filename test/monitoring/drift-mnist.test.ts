import assert from "node:assert/strict";
import { before, test } from "node:test";
import { createRng, loadMnistFull } from "../../src/data/index.js";
import {
  addGaussianNoise,
  compareToReference,
  type DriftReference,
  fitReference,
  type Observation,
  openDriftModel,
  priorShiftRows,
  rotateImages,
  selectRows,
} from "../../src/monitoring/index.js";
import { sliceRows } from "../../src/tensor.js";

// The first 3,000 of MNIST's 10,000 test digits through the bundled CNN, as they are, rotated
// by 15° and with Gaussian noise σ 0.1; the bench (bench/drift.ts) runs all 10,000 and more repeats.
const DIGITS = 3000;
// 100 permutations: the smallest p-value, 1/101, lies below the corrected level 0.05/3.
const REFERENCE = 500;
const CURRENT = 200;
const PERMUTATIONS = 100;
let clean: Observation;
let rotated: Observation;
let noisy: Observation;
let labels: number[];

before(async () => {
  const { x, y } = loadMnistFull("test");
  const digits = sliceRows(x, 0, DIGITS);
  labels = Array.from(sliceRows(y, 0, DIGITS).data, Number);
  const model = await openDriftModel(new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname);
  try {
    clean = await model.observe(digits);
    rotated = await model.observe(rotateImages(digits, 15));
    noisy = await model.observe(addGaussianNoise(digits, 0.1, createRng(7)));
  } finally {
    await model.release();
  }
});

/** A fresh reference of 500 digits and the rest of the digits, shuffled, for repeat r. */
function split(r: number, reference = REFERENCE): { detector: DriftReference; rest: number[] } {
  const order = createRng(100 + r).shuffle(Array.from({ length: DIGITS }, (_, i) => i));
  const detector = fitReference(selectRows(clean, order.slice(0, reference)), { method: "mmd", permutations: PERMUTATIONS, seed: r });
  return { detector, rest: order.slice(reference) };
}

test("no drift is reported on fresh samples of the same digits in about 95% of repeats (α = 0.05)", () => {
  const repeats = 60;
  let alarms = 0;
  for (let r = 0; r < repeats; r++) {
    const { detector, rest } = split(r);
    const comparison = compareToReference(detector, selectRows(clean, rest.slice(0, CURRENT)), r);
    assert.equal(comparison.tests.length, 3);
    if (comparison.drift) alarms++;
  }
  // Bonferroni keeps the rate at or below α; 60 repeats at a true 5% exceed 8 alarms with probability 0.6%.
  assert.ok(alarms <= 8, `${alarms} false alarms in ${repeats} repeats`);
});

test("digits rotated by 15° are detected within 200 samples, by MMD on the model's penultimate features", () => {
  for (let r = 0; r < 10; r++) {
    const { detector, rest } = split(r);
    const comparison = compareToReference(detector, selectRows(rotated, rest.slice(0, CURRENT)), r);
    const mmd = comparison.tests.find((t) => t.kind === "embedding");
    assert.ok(comparison.drift && mmd?.drifted, `repeat ${r}: p = ${mmd?.pValue}`);
    // The most drifted examples come first: the witness function is sorted.
    const w = comparison.mostDrifted?.map((e) => e.witness) ?? [];
    assert.ok(w.length === CURRENT && w.every((v, i) => i === 0 || w[i - 1] >= v));
  }
});

test("Gaussian noise of σ 0.1 is detected in 1,000 digits: the features barely move, the confidence does", () => {
  for (let r = 0; r < 5; r++) {
    const { detector, rest } = split(r, 1000);
    const comparison = compareToReference(detector, selectRows(noisy, rest.slice(0, 1000)), r);
    assert.ok(comparison.drift, `repeat ${r}: ${comparison.tests.map((t) => t.pValue).join(", ")}`);
  }
});

test("an MMD detector refuses a permutation count whose smallest p-value cannot reach the corrected level", () => {
  assert.throws(() => fitReference(clean, { method: "mmd", permutations: 50 }), /at least 60/);
});

test("a class-prior shift (half the batch one class) is detected in 200 digits, and the predicted classes say so", () => {
  for (let r = 0; r < 10; r++) {
    const { detector, rest } = split(r);
    const rows = priorShiftRows(
      rest.map((i) => labels[i]),
      r % 10,
      0.5,
      CURRENT,
      createRng(r),
    ).map((i) => rest[i]);
    const comparison = compareToReference(detector, selectRows(clean, rows), r);
    assert.ok(comparison.tests.find((t) => t.kind === "labels")?.drifted, `repeat ${r}`);
  }
});
