import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import { loadMnist } from "../../src/data/mnist.js";
import { createRng } from "../../src/data/random.js";
import { probabilityNoise } from "../../src/defenses/postprocessors/gaussian-noise.js";
import { labelsOnly } from "../../src/defenses/postprocessors/labels-only.js";
import { reverseSigmoid } from "../../src/defenses/postprocessors/reverse-sigmoid.js";
import { rounding } from "../../src/defenses/postprocessors/rounding.js";
import { topK } from "../../src/defenses/postprocessors/top-k.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { softmaxRows } from "../../src/engine/probabilities.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { isAegisError } from "../../src/errors.js";
import { float32, sliceRows, type Tensor } from "../../src/tensor.js";

const badOption = (e: unknown) => isAegisError(e) && e.code === "BAD_OPTION";

function rowSums(t: Tensor<"float32">): number[] {
  const [n, k] = t.shape as [number, number];
  return Array.from({ length: n }, (_, i) => t.data.subarray(i * k, (i + 1) * k).reduce((s, v) => s + v, 0));
}

function argmaxAgreement(a: Tensor<"float32">, b: Tensor<"float32">): number {
  let same = 0;
  for (let i = 0; i < a.shape[0]!; i++) if (argmaxRow(a, i) === argmaxRow(b, i)) same++;
  return same / a.shape[0]!;
}

describe("postprocessors", () => {
  // Real model outputs: confident rows, and the less confident ones of noisy digits.
  let probs: Tensor<"float32">;
  before(async () => {
    const model = await OnnxClassifier.fromFile("models/mnist-cnn.onnx");
    const x = sliceRows(loadMnist().test.x, 0, 300);
    const rng = createRng(2);
    const noisy = float32(
      x.shape,
      Float32Array.from(x.data, (v, i) => (i < x.data.length / 2 ? v : Math.min(1, Math.max(0, v + rng.normal() * 0.4)))),
    );
    probs = softmaxRows(await model.predict(noisy));
    await model.release();
  });

  it("top-k keeps the k largest probabilities unchanged and zeroes the rest", () => {
    const out = topK({ k: 3 }).apply(probs);
    assert.deepEqual(out.shape, probs.shape);
    for (let i = 0; i < 300; i++) {
      const row = Array.from(probs.data.subarray(i * 10, i * 10 + 10));
      const kept = Array.from(out.data.subarray(i * 10, i * 10 + 10));
      const third = [...row].sort((a, b) => b - a)[2]!;
      assert.equal(kept.filter((v) => v > 0).length, 3);
      for (const [j, v] of kept.entries()) assert.equal(v, row[j]! >= third ? row[j] : 0);
    }
    assert.equal(argmaxAgreement(out, probs), 1);
    // Ties go to the lower class, as argmax.
    assert.deepEqual([...topK({ k: 1 }).apply(float32([1, 3], [0.25, 0.5, 0.5])).data], [0, 0.5, 0]);
    assert.throws(() => topK({ k: 0 }), badOption);
  });

  it("rounding keeps `decimals` decimal places", () => {
    const out = rounding({ decimals: 2 }).apply(probs);
    for (const [i, v] of out.data.entries()) {
      assert.ok(Math.abs(v * 100 - Math.round(v * 100)) < 1e-4);
      assert.ok(Math.abs(v - probs.data[i]!) <= 0.005 + 1e-6);
    }
    for (const s of rowSums(out)) assert.ok(Math.abs(s - 1) <= 0.05);
    assert.ok(argmaxAgreement(out, probs) >= 0.99);
    assert.throws(() => rounding({ decimals: -1 }), badOption);
  });

  it("labels-only returns the one-hot argmax", () => {
    const out = labelsOnly().apply(probs);
    for (let i = 0; i < 300; i++) {
      const row = Array.from(out.data.subarray(i * 10, i * 10 + 10));
      assert.deepEqual(
        row.filter((v) => v !== 0),
        [1],
      );
      assert.equal(row.indexOf(1), argmaxRow(probs, i));
    }
  });

  it("reverse sigmoid (β = 1, γ = 0.1) perturbs every probability, rows sum to 1, confident top-1 classes are kept", () => {
    const out = reverseSigmoid().apply(probs);
    for (const s of rowSums(out)) assert.ok(Math.abs(s - 1) < 1e-5);
    let moved = 0;
    for (let i = 0; i < out.data.length; i++) moved = Math.max(moved, Math.abs(out.data[i]! - probs.data[i]!));
    assert.ok(moved > 0.05);
    // y − r(y) is below β/2 = 0.5 for every y < 0.5 and above it for y > 0.5: a top class above ½ stays on top.
    for (let i = 0; i < 300; i++) {
      const top = argmaxRow(probs, i);
      if (probs.data[i * 10 + top]! > 0.5) assert.equal(argmaxRow(out, i), top, `row ${i}`);
    }
    // An unconfident top class can be overtaken by near-zero ones: the paper's top-1 guarantee needs confidence.
    const unsure = reverseSigmoid().apply(float32([1, 4], [0.33, 0.32, 0.35 - 2e-9, 2e-9]));
    assert.notEqual(argmaxRow(unsure, 0), 2);
    assert.throws(() => reverseSigmoid({ beta: 0 }), badOption);
  });

  it("Gaussian noise on probabilities renormalises rows and changes few argmaxes of confident rows", () => {
    const noise = probabilityNoise({ sigma: 0.2, seed: 1 });
    const out = noise.apply(probs);
    for (const s of rowSums(out)) assert.ok(Math.abs(s - 1) < 1e-5);
    assert.ok(out.data.every((v) => v >= 0));
    assert.notDeepEqual(noise.apply(probs).data, out.data);
    const confident = sliceRows(probs, 0, 150);
    assert.ok(argmaxAgreement(probabilityNoise({ sigma: 0.2, seed: 1 }).apply(confident), confident) >= 0.9);
    assert.throws(() => probabilityNoise({ sigma: -1 }), badOption);
  });
});
