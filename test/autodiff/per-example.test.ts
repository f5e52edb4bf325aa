/**
 * Per-example rules against their definition: example i's gradient is the ordinary
 * gradient of a batch holding example i alone. A sequence model exercises what the
 * fixtures of test/engine/per-example.test.ts do not: MatMul on [N, T, K] inputs with
 * ghost norms (2T² < K·E) and without, a broadcast bias (Add) and scale (Mul), a Sub and
 * a Div by a parameter, LayerNormalization, and a parameter used twice.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { perExampleGradients } from "../../src/engine/per-example.js";
import { GraphBuilder } from "../../src/onnx/builder.js";
import { attr, DataType, emptyModel, type Model } from "../../src/onnx/ir.js";
import { float32, sliceRows } from "../../src/tensor.js";

const [T, K, E, C] = [3, 8, 6, 4];

function sequenceModel(): Model {
  const model = emptyModel(17);
  const b = new GraphBuilder(model.graph, 17, "m");
  const rng = createRng(5);
  const param = (name: string, dims: number[], around = 0) =>
    b.namedInitializer(
      name,
      DataType.FLOAT,
      dims,
      Float32Array.from({ length: dims.reduce((p, d) => p * d, 1) }, () => around + rng.normal() * 0.5),
    );
  b.addInput("input", DataType.FLOAT, ["batch", T, K]);
  let h = b.op("MatMul", ["input", param("w1", [K, E])]); // 2T² = 18 < K·E = 48: ghost norm
  h = b.op("Add", [h, param("bias", [E])]);
  h = b.op("Mul", [h, param("scale", [1, 1, E], 1)]);
  h = b.op("LayerNormalization", [h, param("ln.weight", [E], 1), param("ln.bias", [E])], { axis: attr.int(-1) });
  h = b.op("Tanh", [b.op("Sub", [h, param("shift", [T, 1])])]);
  h = b.op("Div", [h, param("divisor", [E], 2)]);
  h = b.op("MatMul", [h, param("w2", [E, 2])]); // 2T² = 18 > E·2 = 12: materialised
  const shared = param("w3", [2 * T, C]);
  h = b.reshape(h, [-1, 2 * T]);
  const logits = b.op("Add", [b.op("MatMul", [h, shared]), b.op("MatMul", [b.op("Relu", [h]), shared])]);
  b.node("Identity", [logits], {}, ["logits"]);
  b.addOutput("logits", DataType.FLOAT, ["batch", C]);
  return model;
}

test("per-example gradients of MatMul, Add, Sub, Mul, Div, LayerNormalization and a shared weight equal single-example gradients", async () => {
  const clf = await OnnxClassifier.create(sequenceModel(), { trainable: true, batchSize: 4 });
  const rng = createRng(9);
  const n = 6;
  const x = float32(
    [n, T, K],
    Float32Array.from({ length: n * T * K }, () => rng.normal()),
  );
  const targets = clf.oneHot([0, 1, 2, 3, 1, 2]);
  const result = await perExampleGradients(clf, x, targets, { gradients: true });
  const normsOnly = await perExampleGradients(clf, x, targets);
  for (let i = 0; i < n; i++) {
    const one = await clf.evaluate(sliceRows(x, i, i + 1), sliceRows(targets, i, i + 1), { wrt: { params: true } });
    let squared = 0;
    for (const p of clf.parameters) {
      const expected = one.paramGrads?.get(p.name) as Float32Array;
      const got = (result.gradients as Map<string, Float32Array>).get(p.name)!.subarray(i * expected.length, (i + 1) * expected.length);
      const scale = Math.max(...expected.map(Math.abs));
      const err = Math.max(...got.map((v, j) => Math.abs(v - expected[j])));
      assert.ok(scale > 0 && err <= 1e-4 * scale, `example ${i}, ${p.name}: error ${err} of ${scale}`);
      for (const v of expected) squared += v * v;
    }
    const norm = Math.sqrt(squared);
    assert.ok(Math.abs(result.norms[i] - norm) <= 1e-4 * norm, `example ${i}: norm ${result.norms[i]} vs ${norm}`);
    assert.ok(Math.abs(normsOnly.norms[i] - norm) <= 1e-4 * norm, `example ${i}: ghost norm ${normsOnly.norms[i]} vs ${norm}`);
  }
  await clf.release();
});

test("a parameter consumed by an op without a per-example rule is named", async () => {
  const model = emptyModel(17);
  const b = new GraphBuilder(model.graph, 17, "m");
  b.addInput("input", DataType.FLOAT, ["batch", 4]);
  const w = b.namedInitializer(
    "table",
    DataType.FLOAT,
    [4, 4],
    Float32Array.from({ length: 16 }, (_, i) => i / 16),
  );
  b.node("Identity", [b.op("MatMul", ["input", b.op("Transpose", [w])])], {}, ["logits"]);
  b.addOutput("logits", DataType.FLOAT, ["batch", 4]);
  const clf = await OnnxClassifier.create(model, { trainable: true });
  const x = float32([2, 4], [1, 2, 3, 4, 5, 6, 7, 8]);
  await assert.rejects(perExampleGradients(clf, x, clf.oneHot([0, 1])), /per-example gradient for parameter "table" of Transpose node/);
  await clf.release();
});
