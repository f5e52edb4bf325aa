/**
 * Output gradients in one run (engine/jacobian.ts): the ONNX classifier's single gradient
 * graph over R copies of the batch gives the same rows as composing class gradients, for
 * Jacobian rows, differences, sums of all outputs but one, and the rival difference.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng } from "../../src/data/random.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import type { ClassGradient, Predictor } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { hasOutputGradients, outputGradients, rivalClass } from "../../src/engine/jacobian.js";
import { float32, type Tensor } from "../../src/tensor.js";

const maxAbs = (a: Tensor<"float32">, b: Tensor<"float32">) => a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);

test("one run gives the rows composing class gradients gives: one-hot, differences, all-but-one and the rival", async () => {
  const k = 4;
  const n = 5;
  const clf = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [6], numClasses: k, seed: 2 }));
  const composed: Predictor & ClassGradient = {
    inputShape: clf.inputShape,
    numClasses: k,
    clipRange: clf.clipRange,
    outputKind: clf.outputKind,
    predict: (x) => clf.predict(x),
    classGradient: (x, classes) => clf.classGradient(x, classes),
  };
  assert.ok(hasOutputGradients(clf) && !hasOutputGradients(composed));
  try {
    const rng = createRng(5);
    const x = float32(
      [n, 6],
      Float32Array.from({ length: n * 6 }, () => rng.next()),
    );
    const y = [0, 1, 2, 3, 1];
    // Row 0: ∇f_y; row 1: ∇(f_{y+1} − f_y); row 2: ∇Σ_{c≠y} f_c.
    const w = new Float32Array(3 * n * k);
    y.forEach((c, i) => {
      w[(0 * n + i) * k + c] = 1;
      w[(1 * n + i) * k + ((c + 1) % k)] = 1;
      w[(1 * n + i) * k + c] = -1;
      for (let o = 0; o < k; o++) if (o !== c) w[(2 * n + i) * k + o] = 1;
    });
    const weights = float32([3, n, k], w);
    const fast = await outputGradients(clf, x, { weights });
    const slow = await outputGradients(composed, x, { weights });
    assert.deepEqual(fast.gradients.shape, [3, n, 6]);
    assert.ok(maxAbs(fast.gradients, slow.gradients) < 1e-5, `${maxAbs(fast.gradients, slow.gradients)}`);
    assert.ok(maxAbs(fast.output, slow.output) < 1e-6);
    // Row 0 is the class gradient itself.
    const g = await clf.classGradient(x, y);
    assert.ok(maxAbs(float32([n, 6], fast.gradients.data.slice(0, n * 6)), g) < 1e-6);

    const rival = await outputGradients(clf, x, { rivalOf: y });
    const rivalComposed = await outputGradients(composed, x, { rivalOf: y });
    assert.deepEqual(rival.gradients.shape, [1, n, 6]);
    assert.ok(maxAbs(rival.gradients, rivalComposed.gradients) < 1e-5);
    // The rival is the largest other output: its gradient minus the label's.
    const rivals = y.map((c, i) => rivalClass(rival.output, i, c));
    const [gr, gy] = [await clf.classGradient(x, rivals), g];
    const expected = float32(
      [1, n, 6],
      gr.data.map((v, j) => v - gy.data[j]),
    );
    assert.ok(maxAbs(rival.gradients, expected) < 1e-5);
  } finally {
    await clf.release();
  }
});
