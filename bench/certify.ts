/**
 * Randomized smoothing at the paper's scale (Cohen, Rosenfeld & Kolter 2019): the MNIST CNN
 * trained with Gaussian augmentation at σ = 0.25 and at σ = 0.5, then CERTIFY with
 * n0 = 100, n = 100,000, α = 0.001 on the first 500 test digits, certified accuracy at
 * radii 0–1. The trained models are cached under bench/.cache/ (delete them to retrain).
 * At the paper's n this is 10⁸ forward passes per σ: hours on two cores. Scale it down with
 * BENCH_CERTIFY_N, BENCH_CERTIFY_SAMPLES and BENCH_CERTIFY_EPOCHS.
 */
import { existsSync, mkdirSync } from "node:fs";
import { loadMnist } from "../src/data/index.js";
import { abstainRate, certifiedAccuracy, certify, maximumRadius } from "../src/defenses/certification/randomized-smoothing.js";
import { gaussianAugmentation } from "../src/defenses/trainers/gaussian-augmentation.js";
import { buildArchitecture } from "../src/engine/architectures.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { adam } from "../src/engine/optimizers.js";
import { train } from "../src/engine/trainer.js";
import { loadModel, saveModel } from "../src/onnx/io.js";
import { labelsOf, sliceRows } from "../src/tensor.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const n = Number(process.env.BENCH_CERTIFY_N ?? 100_000);
const samples = Number(process.env.BENCH_CERTIFY_SAMPLES ?? 500);
const epochs = Number(process.env.BENCH_CERTIFY_EPOCHS ?? 10);
const cache = new URL("./.cache/", import.meta.url).pathname;
const radii = [0, 0.25, 0.5, 0.75, 1.0];

async function smoothedModel(sigma: number, lines: string[]): Promise<OnnxClassifier> {
  mkdirSync(cache, { recursive: true });
  const path = `${cache}mnist-cnn-gaussian-${sigma}-e${epochs}.onnx`;
  if (!existsSync(path)) {
    const { train: data, test } = loadMnist();
    const clf = await OnnxClassifier.create(buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 }), {
      threads,
      trainable: true,
      batchSize: 128,
    });
    const started = performance.now();
    const history = await train(
      clf,
      { x: data.x, labels: labelsOf(data.y) },
      {
        epochs,
        batchSize: 128,
        optimizer: adam({ lr: 1e-3 }),
        transform: gaussianAugmentation({ sigma }),
        seed: 0,
        validation: { x: test.x, labels: labelsOf(test.y) },
      },
    );
    saveModel(path, clf.exportModel());
    await clf.release();
    const last = history.at(-1);
    lines.push(
      `σ=${sigma}: trained ${epochs} epochs with Gaussian augmentation in ${((performance.now() - started) / 1000).toFixed(0)} s, clean test accuracy ${((last?.validationAccuracy ?? 0) * 100).toFixed(1)}%`,
    );
  } else lines.push(`σ=${sigma}: model from ${path}`);
  return OnnxClassifier.create(loadModel(path), { threads, batchSize: 1000 });
}

export async function benchCertify(): Promise<string[]> {
  const lines = [`Randomized smoothing (Cohen et al. 2019), MNIST CNN, n0=100, n=${n.toLocaleString("en-US")}, α=0.001, ${samples} test digits`];
  const { test } = loadMnist();
  const x = sliceRows(test.x, 0, samples);
  const labels = labelsOf(test.y).slice(0, samples);
  lines.push(`${"σ".padEnd(6)}${radii.map((r) => `r=${r}`.padEnd(9)).join("")}abstain  max radius  noisy samples/s`);
  for (const sigma of [0.25, 0.5]) {
    const setup: string[] = [];
    const model = await smoothedModel(sigma, setup);
    lines.splice(1, 0, ...setup);
    const started = performance.now();
    const results = await certify(model, x, { sigma, n, n0: 100, alpha: 0.001, batchSize: 1000, seed: 0 });
    const seconds = (performance.now() - started) / 1000;
    await model.release();
    const accuracy = certifiedAccuracy(results, labels, radii);
    lines.push(
      `${String(sigma).padEnd(6)}${accuracy.map((a) => `${(a * 100).toFixed(1)}%`.padEnd(9)).join("")}${`${(abstainRate(results) * 100).toFixed(1)}%`.padEnd(9)}${maximumRadius(sigma, n, 0.001).toFixed(3).padEnd(12)}${((samples * (n + 100)) / seconds).toFixed(0)}`,
    );
  }
  return lines;
}
