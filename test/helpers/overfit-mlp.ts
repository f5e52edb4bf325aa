/** The membership-inference tests' target: an MLP overfit on MNIST training digits 0–99 (`mnist:train:0-100`), so its members leak. */
import { writeFileSync } from "node:fs";
import { loadMnist } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { adam } from "../../src/engine/optimizers.js";
import { train } from "../../src/engine/trainer.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

/** Trains it (30 epochs of Adam, seed 3: the same model every run) and writes it as ONNX to `path`. */
export async function writeOverfitMlp(path: string): Promise<void> {
  const { train: split } = loadMnist();
  const model = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 3 }), { trainable: true });
  await train(
    model,
    { x: sliceRows(split.x, 0, 100), labels: labelsOf(split.y).slice(0, 100) },
    { epochs: 30, batchSize: 32, optimizer: adam({ lr: 1e-3 }), seed: 3 },
  );
  writeFileSync(path, encodeModel(model.exportModel()));
  await model.release();
}
