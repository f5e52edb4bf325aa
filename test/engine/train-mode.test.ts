/**
 * BatchNormalization in training mode against PyTorch's train() on the resnet_bn fixture
 * (five BatchNorm layers; scripts/make_training_fixtures.py): logits, the gradients of the
 * mean cross-entropy with respect to the input and every parameter, and the running
 * statistics after the step. Criterion: max |Aegis − PyTorch| ≤ 1e-4 × max |PyTorch|.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { parseNpz } from "../../src/data/index.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { crossEntropy } from "../../src/engine/losses.js";
import { sgd } from "../../src/engine/optimizers.js";
import { createSession } from "../../src/engine/runtime.js";
import { trainingStep } from "../../src/engine/training-step.js";
import { loadModel } from "../../src/onnx/io.js";
import { labelsOf, type Tensor } from "../../src/tensor.js";

const dir = new URL("../../fixtures/models/", import.meta.url);
const ref = parseNpz(readFileSync(new URL("resnet_bn.train_mode.npz", dir)));
const model = () => loadModel(new URL("resnet_bn.onnx", dir).pathname);

function assertClose(actual: ArrayLike<number>, expected: Tensor, what: string): void {
  assert.equal(actual.length, expected.data.length, `${what}: size`);
  let scale = 0;
  let err = 0;
  for (let i = 0; i < actual.length; i++) {
    scale = Math.max(scale, Math.abs(Number(expected.data[i])));
    err = Math.max(err, Math.abs(actual[i] - Number(expected.data[i])));
  }
  assert.ok(scale > 0, `${what}: reference is not all zeros`);
  assert.ok(err <= 1e-4 * scale, `${what}: max error ${err} exceeds 1e-4 × ${scale}`);
}

test("resnet_bn in training mode: logits, input and parameter gradients, running statistics match PyTorch's train()", async () => {
  const clf = await OnnxClassifier.create(model(), { trainable: true });
  const x = ref.get("x") as Tensor<"float32">;
  const targets = clf.oneHot(labelsOf(ref.get("y") as Tensor));
  const weights = new Float32Array(8).fill(1 / 8);
  const graph = await clf.gradientGraph(crossEntropy, { input: true, params: true }, x.shape, { x, targets, weights }, { seed: 0 });
  assert.equal(graph.statisticUpdates.size, 10, "five BatchNorm layers, two statistics each");
  for (const update of graph.statisticUpdates.values()) graph.model.graph.outputs.push({ name: update, elemType: 1 });
  const session = await createSession(graph.model);
  const out = await session.run({
    ...clf.paramFeeds(),
    [graph.inputName]: x,
    "aegis/targets": targets,
    "aegis/weights": { dtype: "float32", shape: [8], data: weights },
  });
  await session.release();
  assertClose(out[graph.outputOut].data as Float32Array, ref.get("logits") as Tensor, "train-mode logits");
  assertClose(out[graph.inputGradOut as string].data as Float32Array, ref.get("grad_input") as Tensor, "input gradient");
  for (const p of clf.parameters)
    assertClose(out[graph.paramGradOuts.get(p.name) as string].data as Float32Array, ref.get(`grad/${p.name}`) as Tensor, `∂L/∂${p.name}`);
  for (const [name, update] of graph.statisticUpdates) assertClose(out[update].data as Float32Array, ref.get(`state/${name}`) as Tensor, `updated ${name}`);
  await clf.release();
});

test("a training step updates the statistics, and predictions then use them (eval mode)", async () => {
  const clf = await OnnxClassifier.create(model(), { trainable: true });
  const frozen = await OnnxClassifier.create(model());
  const x = ref.get("x") as Tensor<"float32">;
  const targets = clf.oneHot(labelsOf(ref.get("y") as Tensor));
  const before = await clf.predict(x);
  assertClose(before.data, await frozen.predict(x), "before the step, the inference graph");
  const parameters = clf.parameters.map((p) => Float32Array.from(p.value));
  const step = await trainingStep(clf, { x, targets, weights: new Float32Array(8).fill(1 / 8) }, sgd({ lr: 0 }), crossEntropy);
  assertClose(step.output.data, ref.get("logits") as Tensor, "the step's outputs (batch statistics)");
  for (const [i, p] of clf.parameters.entries()) assert.deepEqual(p.value, parameters[i], `${p.name} unchanged at lr 0`);
  for (const s of clf.statistics) assertClose(s.value, ref.get(`state/${s.name}`) as Tensor, `${s.name} after the step`);
  const after = await clf.predict(x);
  assert.ok(
    after.data.some((v, i) => Math.abs(v - before.data[i]) > 1e-3),
    "inference reads the updated running statistics",
  );
  const saved = await OnnxClassifier.create(clf.exportModel());
  assertClose((await saved.predict(x)).data, after, "the exported model keeps the statistics");
  await Promise.all([clf.release(), frozen.release(), saved.release()]);
});
