import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng } from "../../src/data/random.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { crossEntropy } from "../../src/engine/losses.js";
import { adam, type Optimizer, sgd } from "../../src/engine/optimizers.js";
import { trainingStep } from "../../src/engine/training-step.js";
import { float32 } from "../../src/tensor.js";

function images(n: number, seed: number) {
  const rng = createRng(seed);
  return float32(
    [n, 1, 12, 12],
    Float32Array.from({ length: n * 144 }, () => rng.next()),
  );
}

/** Max |a − b| / max |b| over every parameter. */
function relativeGap(a: OnnxClassifier, b: OnnxClassifier): number {
  let err = 0;
  let scale = 0;
  a.parameters.forEach((p, i) => {
    const q = b.parameters[i].value;
    for (let j = 0; j < q.length; j++) {
      err = Math.max(err, Math.abs(p.value[j] - q[j]));
      scale = Math.max(scale, Math.abs(q[j]));
    }
  });
  return err / scale;
}

const optimizers: [string, () => Optimizer][] = [
  ["adam with weight decay", () => adam({ lr: 1e-2, weightDecay: 1e-2 })],
  ["sgd with Nesterov momentum", () => sgd({ lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-3 })],
  ["plain sgd", () => sgd({ lr: 0.1 })],
];

for (const [name, make] of optimizers) {
  test(`the one-run training step (${name}) matches gradients + the TypeScript update, step for step`, async () => {
    const model = buildArchitecture("cnn", { inputShape: [1, 12, 12], numClasses: 3, seed: 2 });
    const fused = await OnnxClassifier.create(model, { trainable: true });
    const reference = await OnnxClassifier.create(model, { trainable: true });
    const fusedOptimizer = make();
    const referenceOptimizer = make();
    // A short batch (5 rows) runs in the 8-row program, padded with zero-weight rows that must not count.
    for (const [step, n] of [
      [0, 8],
      [1, 8],
      [2, 5],
      [3, 8],
    ]) {
      const x = images(n, step);
      const targets = fused.oneHot(Array.from({ length: n }, (_, i) => (i + step) % 3));
      const weights = new Float32Array(n).fill(1 / n);
      const before = fused.parameters.map((p) => Float32Array.from(p.value));
      const result = await trainingStep(fused, { x, targets, weights }, fusedOptimizer, crossEntropy);
      const expected = await reference.evaluate(x, targets, { wrt: { params: true }, weights });
      referenceOptimizer.step(reference.parameters, expected.paramGrads as Map<string, Float32Array>);
      assert.ok(Math.abs(result.total - expected.total) <= 1e-5 * Math.abs(expected.total), `loss ${result.total} vs ${expected.total}`);
      assert.deepEqual([...result.output.shape], [n, 3]);
      const gap = relativeGap(fused, reference);
      assert.ok(gap < 1e-5, `step ${step}: parameters differ by ${gap}`);
      assert.ok(
        fused.parameters.some((p, i) => p.value.some((v, j) => v !== before[i][j])),
        "the step moved the parameters",
      );
    }
    assert.deepEqual(
      Object.keys(fusedOptimizer.exportState().buffers).sort(),
      Object.keys(referenceOptimizer.exportState().buffers).sort(),
      "both forms keep the same state",
    );
    await fused.release();
    await reference.release();
  });
}

test("a resumed optimizer state and a changed learning rate reach the graph form", async () => {
  const model = buildArchitecture("mlp", { inputShape: [6], numClasses: 3, seed: 1 });
  const a = await OnnxClassifier.create(model, { trainable: true });
  const b = await OnnxClassifier.create(model, { trainable: true });
  const rng = createRng(3);
  const x = float32(
    [16, 6],
    Float32Array.from({ length: 96 }, () => rng.normal()),
  );
  const targets = a.oneHot(Array.from({ length: 16 }, (_, i) => i % 3));
  const weights = new Float32Array(16).fill(1 / 16);
  const first = adam({ lr: 1e-2 });
  await trainingStep(a, { x, targets, weights }, first, crossEntropy);
  await trainingStep(a, { x, targets, weights }, first, crossEntropy);
  // b: one step, then a fresh optimizer restored from a's state, at a's weights.
  for (const [i, p] of b.parameters.entries()) p.value.set(a.parameters[i].value);
  const resumed = adam({ lr: 1e-2 });
  resumed.importState(first.exportState());
  first.learningRate = resumed.learningRate = 3e-3;
  await trainingStep(a, { x, targets, weights }, first, crossEntropy);
  await trainingStep(b, { x, targets, weights }, resumed, crossEntropy);
  assert.equal(relativeGap(a, b), 0, "bit for bit");
  assert.equal(resumed.exportState().step, 3);
  await a.release();
  await b.release();
});
