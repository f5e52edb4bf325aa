/**
 * A tiny backdoored MNIST CNN trained in seconds for the Neural Cleanse and repair tests:
 * the small fixture CNN (fixtures/models/cnn_maxpool.onnx: two convolutions of 8 and 16
 * channels) fine-tuned by the engine on 2,000 digits poisoned by BadNets (10%, the
 * four-pixel pattern, all-to-one → 0), or on the same digits unpoisoned for its clean twin;
 * `trainTiny` fine-tunes it the same way on any labelled set (the clean-label backdoor's).
 */
import { badnets, type PoisonManifest } from "../../src/attacks/index.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { adam, OnnxClassifier, train } from "../../src/engine/index.js";
import { loadModel } from "../../src/onnx/io.js";
import { labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const fixture = new URL("../../fixtures/models/cnn_maxpool.onnx", import.meta.url).pathname;

export type Labelled = { x: Tensor<"float32">; labels: number[] };

/** MNIST rows [from, to) of a split. */
export function mnistRows(split: "train" | "test", from: number, to: number): Labelled {
  const set = loadMnist()[split];
  return { x: sliceRows(set.x, from, to), labels: labelsOf(sliceRows(set.y, from, to)) };
}

/** The fixture CNN trained on `data` (6 epochs unless told). */
export async function trainTiny(data: Labelled, epochs = 6): Promise<OnnxClassifier> {
  const model = await OnnxClassifier.create(loadModel(fixture), { trainable: true, batchSize: 64, threads: 1 });
  await train(model, data, { epochs, batchSize: 64, optimizer: adam({ lr: 1e-3 }), seed: 0 });
  return model;
}

/** The fixture CNN trained on 2,000 digits, BadNets-poisoned when `poisoned`; the manifest either way (for the trigger). */
export async function tinyCnn(poisoned: boolean): Promise<{ model: OnnxClassifier; manifest: PoisonManifest }> {
  const clean = mnistRows("train", 0, 2000);
  const attack = await badnets.poison({ ...clean, numClasses: 10, source: "mnist" }, badnets.defaults, { rng: createRng(0) });
  return { model: await trainTiny(poisoned ? attack : clean), manifest: attack.manifest };
}
