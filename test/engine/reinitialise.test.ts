import assert from "node:assert/strict";
import { test } from "node:test";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { reinitialise } from "../../src/engine/reinitialise.js";
import { GraphBuilder } from "../../src/onnx/builder.js";
import { loadModel } from "../../src/onnx/io.js";
import { attr, DataType, emptyModel, type Model } from "../../src/onnx/ir.js";
import { float32 } from "../../src/tensor.js";

const resnet = () => loadModel(new URL("../../fixtures/models/mnist_resnet_bn.onnx", import.meta.url).pathname);
const tensor = (m: Model, name: string) => m.graph.initializers.find((t) => t.name === name)?.data as Float32Array;

function std(values: Float32Array): number {
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
}

test("a PyTorch ResNet gets He weights before ReLU, Glorot elsewhere, fresh BatchNorm, seeded", () => {
  const source = resnet();
  const { model, reinitialised } = reinitialise(source, 1);
  // 6 Conv weights, the Gemm's weight and bias, the projection's bias, 5 BatchNorms × 4.
  assert.equal(reinitialised.length, 29);
  // stem: Conv(1→16, 3×3) → BatchNorm → Relu: He, std √(2/9).
  const stem = tensor(model, "stem.weight");
  assert.ok(Math.abs(std(stem) - Math.sqrt(2 / 9)) < 0.1, `stem std ${std(stem)}`);
  // block2.conv2 (32→32, 3×3) feeds BatchNorm then GELU (no ReLU): Glorot, |w| ≤ √(6/(288 + 288)).
  const conv2 = tensor(model, "block2.conv2.weight");
  const bound = Math.sqrt(6 / 576);
  assert.ok(conv2.every((v) => Math.abs(v) <= bound));
  assert.ok(Math.abs(std(conv2) - bound / Math.sqrt(3)) < 0.01, `uniform std ${std(conv2)}`);
  assert.ok(tensor(model, "fc.bias").every((v) => v === 0));
  const fresh: [string, number][] = [
    ["weight", 1],
    ["bias", 0],
    ["running_mean", 0],
    ["running_var", 1],
  ];
  for (const bn of ["stem_bn", "block1.bn1", "block2.bn2"]) {
    for (const [part, value] of fresh)
      assert.ok(
        tensor(model, `${bn}.${part}`).every((v) => v === value),
        `${bn}.${part}`,
      );
  }
  assert.notDeepEqual(stem, tensor(source, "stem.weight"), "the weights are new");
  assert.deepEqual(tensor(reinitialise(source, 1).model, "stem.weight"), stem, "same seed, same weights");
  assert.notDeepEqual(tensor(reinitialise(source, 2).model, "stem.weight"), stem, "another seed, other weights");
  assert.notEqual(tensor(source, "stem_bn.weight")[0], 1, "the source model is left alone");
});

test("initializers an exporter merged behind Identity nodes become separate parameters", async () => {
  // As torch.onnx writes an untrained model: both BatchNorms' scales are one tensor of ones.
  const model = emptyModel(13);
  const b = new GraphBuilder(model.graph, 13, "m");
  b.addInput("input", DataType.FLOAT, ["batch", 2, 4, 4]);
  const c = (name: string, v: number) => b.namedInitializer(name, DataType.FLOAT, [2], new Float32Array(2).fill(v));
  const [ones, zeros] = [c("bn1.weight", 1), c("bn1.bias", 0)];
  const alias = (from: string, to: string) => b.node("Identity", [from], {}, [to])[0];
  const bn = (x: string, name: string, tied: boolean) =>
    b.op("BatchNormalization", [x, tied ? alias(ones, `${name}.weight`) : ones, zeros, c(`${name}.running_mean`, 0), c(`${name}.running_var`, 1)]);
  const w = b.namedInitializer("conv.weight", DataType.FLOAT, [2, 2, 1, 1], Float32Array.of(1, 0, 0, 1));
  const h = bn(b.op("Relu", [b.op("Conv", [bn("input", "bn1", false), w], { kernel_shape: attr.ints([1, 1]) })]), "bn2", true);
  b.node("Flatten", [b.op("GlobalAveragePool", [h])], {}, ["logits"]);
  b.addOutput("logits", DataType.FLOAT, ["batch", 2]);

  const { model: fresh } = reinitialise(model, 0);
  assert.equal(
    fresh.graph.nodes.some((n) => n.opType === "Identity"),
    false,
  );
  const clf = await OnnxClassifier.create(fresh, { trainable: true });
  assert.deepEqual(clf.parameters.map((p) => p.name).sort(), ["bn1.bias", "bn1.weight", "bn2.weight", "conv.weight"]);
  assert.equal(clf.statistics.length, 4);
  assert.deepEqual([...(await clf.predict(float32([1, 2, 4, 4]))).shape], [1, 2]);
  await clf.release();
});
