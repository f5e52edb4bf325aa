/**
 * `node --import tsx bench/engine-memory.ts <train|input-gradient> <batch> <samples> <threads>`:
 * prints the peak RSS growth, in MB, of one epoch of training (Adam) or of streaming input
 * gradients over <samples> random MNIST-sized images with the MNIST CNN. The data is made
 * before the baseline is taken, so the number is what the engine adds; a fresh process per
 * measurement keeps one run's arena out of the next.
 */
import { buildArchitecture } from "../src/engine/architectures.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { adam } from "../src/engine/optimizers.js";
import { train } from "../src/engine/trainer.js";
import { sliceRows } from "../src/tensor.js";
import { randomImages } from "./engine.js";

const [mode, batch, samples, threads] = [process.argv[2], ...process.argv.slice(3).map(Number)];
const model = buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
const x = randomImages(samples, 3);
const labels = Array.from({ length: samples }, (_, i) => i % 10);
const clf = await OnnxClassifier.create(model, { threads, batchSize: batch, trainable: mode === "train" });
const before = process.memoryUsage().rss;
let peak = before;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage().rss);
};
if (mode === "train") {
  await train(clf, { x, labels }, { epochs: 1, batchSize: batch, optimizer: adam({ lr: 1e-3 }), onStep: sample });
} else {
  for (let start = 0; start < samples; start += batch) {
    const end = Math.min(samples, start + batch);
    await clf.lossGradient(sliceRows(x, start, end), labels.slice(start, end));
    sample();
  }
}
await clf.release();
console.log(((peak - before) / 2 ** 20).toFixed(1));
