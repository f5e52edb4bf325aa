/**
 * `aegis train --like`: a PyTorch-exported ResNet with BatchNorm (fixtures/models/
 * mnist_resnet_bn.onnx), re-initialised and trained on MNIST digits. This architecture starts
 * slowly: PyTorch, training it from its own initialisation with the same schedule, measured
 * 37% training accuracy in the first epoch and 81% test accuracy after three. At npm-test
 * scale (2,000 training digits, 4 epochs; measured 86%) it must pass 80% on 1,000 held-out
 * digits — an untrained or a broken training loop stays near 10%; `npm run bench` trains
 * it at full scale on mnist-full (≥ 97%).
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeNpz, loadMnist } from "../../src/data/index.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { countCorrect } from "../../src/engine/trainer.js";
import { loadModel } from "../../src/onnx/io.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const like = new URL("../../fixtures/models/mnist_resnet_bn.onnx", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "aegis-like-"));

test("train --like re-initialises a PyTorch ResNet with BatchNorm and trains it past 80% on MNIST digits", async () => {
  const { train, test: held } = loadMnist();
  const trainData = join(tmp, "train.npz");
  const testData = join(tmp, "test.npz");
  writeFileSync(trainData, encodeNpz({ x: sliceRows(train.x, 0, 2000), y: sliceRows(train.y, 0, 2000) }));
  writeFileSync(testData, encodeNpz({ x: sliceRows(held.x, 0, 1000), y: sliceRows(held.y, 0, 1000) }));
  const out = join(tmp, "resnet.onnx");
  const args = ["train", "--like", like, "--dataset", trainData, "--test-data", testData, "--epochs", "4", "--batch-size", "32", "--lr", "2e-3"];
  const r = await aegis([...args, "--out", out, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /re-initialised 29 weight tensors/);
  const history = JSON.parse(r.stdout).history;
  const accuracy = history[3].validationAccuracy;
  assert.ok(accuracy >= 0.8, `test accuracy ${accuracy}`);

  // The written model keeps the architecture (five BatchNorms) with the trained statistics.
  const model = loadModel(out);
  assert.equal(model.graph.nodes.filter((n) => n.opType === "BatchNormalization").length, 5);
  const source = loadModel(like).graph.initializers.find((t) => t.name === "stem_bn.running_var")?.data;
  assert.notDeepEqual(model.graph.initializers.find((t) => t.name === "stem_bn.running_var")?.data, source);
  const clf = await OnnxClassifier.create(model);
  const x = sliceRows(held.x, 0, 1000);
  assert.equal(countCorrect(await clf.predict(x), labelsOf(sliceRows(held.y, 0, 1000))) / 1000, accuracy);
  await clf.release();
});

test("train --like refuses --arch as well, and a model with fewer outputs than the labels", async () => {
  const both = await aegis(["train", "--like", like, "--arch", "cnn", "--out", join(tmp, "x.onnx")]);
  assert.equal(both.code, 2, both.stderr);
  assert.match(both.stderr, /give --arch or --like, not both/);
  const tabular = new URL("../../fixtures/models/tabular_mlp.onnx", import.meta.url).pathname;
  const data = join(tmp, "ten-classes.npz");
  const { test: held } = loadMnist();
  writeFileSync(data, encodeNpz({ x: sliceRows(held.x, 0, 20), y: sliceRows(held.y, 0, 20) }));
  const r = await aegis(["train", "--like", tabular, "--dataset", data, "--out", join(tmp, "y.onnx")]);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /the labels go up to 9 but .*tabular_mlp\.onnx has 3 outputs/);
});
