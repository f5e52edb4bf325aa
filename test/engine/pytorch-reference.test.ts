/**
 * Whole-model gradients against PyTorch autograd, on models exported by torch.onnx
 * (fixtures/models, made by scripts/make_fixtures.py). Criterion: max |Aegis − PyTorch|
 * ≤ 1e-4 × max |PyTorch|.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseNpz } from "../../src/data/index.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { loadModel } from "../../src/onnx/io.js";
import { labelsOf, type Tensor } from "../../src/tensor.js";

const dir = new URL("../../fixtures/models/", import.meta.url);

function reference(name: string): Map<string, Tensor> {
  return parseNpz(readFileSync(new URL(`${name}.npz`, dir)));
}

function assertClose(actual: Tensor, expected: Tensor, what: string, tolerance = 1e-4): void {
  assert.deepEqual([...actual.shape], [...expected.shape], `${what}: shape`);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < expected.data.length; i++) {
    scale = Math.max(scale, Math.abs(Number(expected.data[i])));
    err = Math.max(err, Math.abs(Number(actual.data[i]) - Number(expected.data[i])));
  }
  assert.ok(scale > 0, `${what}: reference is not all zeros`);
  assert.ok(err <= tolerance * scale, `${what}: max error ${err} exceeds ${tolerance} × ${scale}`);
}

const cases = [
  { model: "cnn_maxpool", ref: "cnn_maxpool", classKey: "grad_class3", params: true },
  { model: "cnn_maxpool_op11", ref: "cnn_maxpool", classKey: "grad_class3", params: true, paramsJson: "cnn_maxpool" },
  { model: "resnet_bn", ref: "resnet_bn", classKey: "grad_class3", params: true },
  { model: "resnet_bn_fused", ref: "resnet_bn", classKey: "grad_class3", params: false },
  { model: "tabular_mlp", ref: "tabular_mlp", classKey: "grad_class2", params: true },
];

for (const c of cases) {
  test(`${c.model}: logits and input gradients (CE, margin, DLR, class) match PyTorch`, async () => {
    const ref = reference(c.ref);
    const x = ref.get("x") as Tensor<"float32">;
    const y = labelsOf(ref.get("y") as Tensor);
    // Batch size 3 splits the 8 samples unevenly: gradients must not depend on batching.
    const clf = await OnnxClassifier.fromFile(new URL(`${c.model}.onnx`, dir).pathname, { batchSize: 3 });
    assertClose(await clf.predict(x), ref.get("logits") as Tensor, "logits");
    assertClose(await clf.lossGradient(x, y), ref.get("grad_ce") as Tensor, "CE gradient");
    assertClose(await clf.lossGradient(x, y, { loss: "margin" }), ref.get("grad_margin") as Tensor, "margin gradient");
    assertClose(await clf.lossGradient(x, y, { loss: "dlr" }), ref.get("grad_dlr") as Tensor, "DLR gradient");
    const cls = Number(c.classKey.replace("grad_class", ""));
    assertClose(await clf.classGradient(x, new Array(8).fill(cls)), ref.get(c.classKey) as Tensor, "class gradient");
    await clf.release();
  });

  if (c.params) {
    test(`${c.model}: parameter gradients of the mean CE match PyTorch`, async () => {
      const ref = reference(c.ref);
      const names = JSON.parse(readFileSync(new URL(`${c.paramsJson ?? c.model}.params.json`, dir), "utf8")) as Record<string, string>;
      const clf = await OnnxClassifier.create(loadModel(new URL(`${c.model}.onnx`, dir).pathname), { trainable: true });
      const x = ref.get("x") as Tensor<"float32">;
      const y = labelsOf(ref.get("y") as Tensor);
      const result = await clf.evaluate(x, clf.oneHot(y), { wrt: { params: true }, weights: new Float32Array(8).fill(1 / 8) });
      for (const [key, param] of Object.entries(names)) {
        const expected = ref.get(key) as Tensor;
        const grad = result.paramGrads?.get(param);
        assert.ok(grad, `gradient for parameter ${param}`);
        assertClose({ dtype: "float32", shape: expected.shape, data: grad }, expected, `∂L/∂${param}`);
      }
      await clf.release();
    });
  }
}
