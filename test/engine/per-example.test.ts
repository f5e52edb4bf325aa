/**
 * Per-example gradients against PyTorch autograd on batches of one, for the three model
 * fixtures (scripts/make_training_fixtures.py): every example's norm over all parameters,
 * the gradients of each parameter small enough to store, and the clipped sum of all of
 * them. Criterion: max |Aegis − PyTorch| ≤ 1e-4 × max |PyTorch| per array; for the clipped
 * sums, whose examples partly cancel, 1e-4 × max Σᵢ |sᵢ·gᵢ|.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseNpz } from "../../src/data/index.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { perExampleGradients } from "../../src/engine/per-example.js";
import { loadModel } from "../../src/onnx/io.js";
import { float32, labelsOf, type Tensor } from "../../src/tensor.js";

const dir = new URL("../../fixtures/models/", import.meta.url);
const npz = (file: string) => parseNpz(readFileSync(new URL(file, dir)));

function assertClose(actual: ArrayLike<number>, expected: Tensor, what: string, of?: number): void {
  assert.equal(actual.length, expected.data.length, `${what}: size`);
  let scale = of ?? 0;
  let err = 0;
  for (let i = 0; i < actual.length; i++) {
    const e = Number(expected.data[i]);
    if (of === undefined) scale = Math.max(scale, Math.abs(e));
    err = Math.max(err, Math.abs(actual[i] - e));
  }
  assert.ok(scale > 0, `${what}: reference is not all zeros`);
  assert.ok(err <= 1e-4 * scale, `${what}: max error ${err} exceeds 1e-4 × ${scale}`);
}

for (const name of ["cnn_maxpool", "resnet_bn", "tabular_mlp"]) {
  test(`${name}: per-example gradient norms, gradients and clipped sum match PyTorch`, async () => {
    const inputs = npz(`${name}.npz`);
    const ref = npz(`${name}.per_example.npz`);
    // Batches of 3 split the 8 examples unevenly: padding rows must not leak into anything.
    const clf = await OnnxClassifier.create(loadModel(new URL(`${name}.onnx`, dir).pathname), { trainable: true, batchSize: 3 });
    const x = inputs.get("x") as Tensor<"float32">;
    const targets = clf.oneHot(labelsOf(inputs.get("y") as Tensor));
    const clipNorm = Number((ref.get("clip_norm") as Tensor).data[0]);
    // Norms and clipped sums alone: ghost norms and δ-scaled VJPs where those are cheaper.
    const clipped = await perExampleGradients(clf, x, targets, { clipNorm });
    assertClose(clipped.norms, ref.get("norms") as Tensor, "norms");
    for (const p of clf.parameters) {
      const summed = Number((ref.get(`clipped_scale/${p.name}`) as Tensor).data[0]);
      assertClose(clipped.clippedSum?.get(p.name) as Float32Array, ref.get(`clipped_sum/${p.name}`) as Tensor, `clipped sum of ${p.name}`, summed);
    }
    // Every gradient materialised: the same norms, and the gradients themselves.
    const full = await perExampleGradients(clf, x, targets, { gradients: true, clipNorm });
    assertClose(full.norms, float32([8], clipped.norms), "norms from the materialised gradients");
    let stored = 0;
    for (const p of clf.parameters) {
      const summed = Number((ref.get(`clipped_scale/${p.name}`) as Tensor).data[0]);
      assertClose(
        full.clippedSum?.get(p.name) as Float32Array,
        ref.get(`clipped_sum/${p.name}`) as Tensor,
        `clipped sum of the materialised ${p.name}`,
        summed,
      );
      const expected = ref.get(`per_example/${p.name}`);
      if (!expected) continue;
      assertClose(full.gradients?.get(p.name) as Float32Array, expected, `per-example ∂ℓᵢ/∂${p.name}`);
      stored++;
    }
    assert.ok(stored >= 4, `${stored} parameters compared in full`);
    await clf.release();
  });
}
