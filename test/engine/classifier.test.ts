import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseNpz } from "../../src/data/index.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { summarizeModel } from "../../src/engine/inspect.js";
import { loadModel } from "../../src/onnx/io.js";
import { attr, cloneModel, DataType } from "../../src/onnx/ir.js";
import { float32, labelsOf, type Tensor } from "../../src/tensor.js";

const dir = new URL("../../fixtures/models/", import.meta.url);
const mlpPath = new URL("tabular_mlp.onnx", dir).pathname;
const ref = parseNpz(readFileSync(new URL("tabular_mlp.npz", dir)));
const x = ref.get("x") as Tensor<"float32">;
const y = labelsOf(ref.get("y") as Tensor);
const gradCe = ref.get("grad_ce") as Tensor<"float32">;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test("normalisation inside the wrapper: gradients are with respect to the raw input (chain rule through 1/std)", async () => {
  const mean = 0.5;
  const std = 2;
  const clf = await OnnxClassifier.fromFile(mlpPath, { preprocessing: { mean, std } });
  const raw = float32(
    x.shape,
    Float32Array.from(x.data, (v) => v * std + mean),
  );
  const logits = await clf.predict(raw);
  assert.ok(maxAbsDiff(logits.data, (ref.get("logits") as Tensor<"float32">).data) < 1e-4);
  const g = await clf.lossGradient(raw, y);
  assert.ok(
    maxAbsDiff(
      g.data,
      Float32Array.from(gradCe.data, (v) => v / std),
    ) < 1e-5,
  );
  await clf.release();
});

test("a model ending in Softmax is seen through: probabilities out, CE gradient as from the logits", async () => {
  const model = cloneModel(loadModel(mlpPath));
  const last = model.graph.outputs[0].name;
  model.graph.nodes.push({ name: "softmax", opType: "Softmax", domain: "", inputs: [last], outputs: ["probs"], attributes: { axis: attr.int(1) } });
  model.graph.outputs = [{ name: "probs", elemType: DataType.FLOAT, shape: ["batch", 3] }];
  const clf = await OnnxClassifier.create(model);
  assert.equal(clf.outputKind, "probs");
  const p = await clf.predict(x);
  for (let i = 0; i < 8; i++) assert.ok(Math.abs(p.data[i * 3] + p.data[i * 3 + 1] + p.data[i * 3 + 2] - 1) < 1e-5);
  assert.ok(maxAbsDiff((await clf.lossGradient(x, y)).data, gradCe.data) < 1e-4 * Math.max(...Array.from(gradCe.data, Math.abs)));
  await clf.release();
});

test("a model exported with a fixed batch size of 8 takes any number of samples", async () => {
  const model = cloneModel(loadModel(mlpPath));
  model.graph.inputs[0].shape = [8, 12];
  const clf = await OnnxClassifier.create(model);
  const five = float32([5, 12], x.data.slice(0, 60));
  const g = await clf.lossGradient(five, y.slice(0, 5));
  assert.deepEqual(g.shape, [5, 12]);
  assert.ok(maxAbsDiff(g.data, gradCe.data.slice(0, 60)) < 1e-5);
  await clf.release();
});

test("inspect: PyTorch models are differentiable; a scikit-learn style tree ensemble is not, and its node is named", async () => {
  const cnn = await summarizeModel(loadModel(new URL("cnn_maxpool.onnx", dir).pathname));
  assert.equal(cnn.differentiable, true);
  assert.deepEqual(cnn.ops, { Conv: 2, Gemm: 2, Relu: 3, Flatten: 1, MaxPool: 1 });
  assert.equal(cnn.opsets["ai.onnx"], 13);
  assert.deepEqual(cnn.inputs[0].shape, ["batch", 1, 28, 28]);
  assert.ok(cnn.parameters > 80_000);

  const tree = await summarizeModel(loadModel(new URL("tree_classifier.onnx", dir).pathname));
  assert.equal(tree.differentiable, false);
  assert.equal(tree.nonDifferentiable.length, 1);
  assert.equal(tree.nonDifferentiable[0].opType, "TreeEnsembleClassifier");
  assert.equal(tree.nonDifferentiable[0].domain, "ai.onnx.ml");
  assert.match(tree.nonDifferentiable[0].reason, /ai\.onnx\.ml domain/);
  assert.deepEqual(tree.capabilities, ["predict"]);
});

test("a tree ensemble still predicts (black-box use), and asking for its gradient names the op", async () => {
  const tree = parseNpz(readFileSync(new URL("tree_classifier.npz", dir)));
  const clf = await OnnxClassifier.fromFile(new URL("tree_classifier.onnx", dir).pathname);
  assert.equal(clf.outputKind, "probs");
  const p = await clf.predict(tree.get("x") as Tensor<"float32">);
  assert.ok(maxAbsDiff(p.data, (tree.get("probabilities") as Tensor<"float32">).data) < 1e-6);
  await assert.rejects(clf.lossGradient(tree.get("x") as Tensor<"float32">, labelsOf(tree.get("label") as Tensor)), (e: Error & { code?: string }) => {
    assert.equal(e.code, "NOT_DIFFERENTIABLE");
    assert.match(e.message, /TreeEnsembleClassifier/);
    return true;
  });
  await clf.release();
});
