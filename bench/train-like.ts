/**
 * `aegis train --like` at full scale: the PyTorch-exported ResNet with BatchNorm of
 * fixtures/models/mnist_resnet_bn.onnx, re-initialised and trained on the 60,000 digits of
 * mnist-full, then scored on its 10,000 test digits (the bar: ≥ 97%).
 * BENCH_LIKE_EPOCHS changes the number of epochs (default 3).
 */
import { execFile } from "node:child_process";
import { mkdirSync } from "node:fs";
import { promisify } from "node:util";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const epochs = Number(process.env.BENCH_LIKE_EPOCHS ?? 3);

export async function benchTrainLike(): Promise<string[]> {
  const cache = new URL("./.cache/", import.meta.url).pathname;
  mkdirSync(cache, { recursive: true });
  const like = new URL("../fixtures/models/mnist_resnet_bn.onnx", import.meta.url).pathname;
  const bin = new URL("../bin/aegis.js", import.meta.url).pathname;
  const out = `${cache}mnist-resnet-bn-like.onnx`;
  const args = [
    "train",
    "--like",
    like,
    "--dataset",
    "mnist-full",
    "--epochs",
    String(epochs),
    "--batch-size",
    "64",
    "--lr",
    "2e-3",
    "--threads",
    String(threads),
  ];
  const started = performance.now();
  const { stdout } = await promisify(execFile)(process.execPath, [bin, ...args, "--out", out, "--json"], { maxBuffer: 1 << 24 });
  const minutes = (performance.now() - started) / 60000;
  const history = JSON.parse(stdout).history as { epoch: number; validationAccuracy: number; samplesPerSecond: number }[];
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  return [
    `aegis train --like mnist_resnet_bn.onnx (19,674 parameters, 5 BatchNorms, weights re-initialised) on mnist-full, ${epochs} epochs, batch 64, adam 2e-3:`,
    `  test accuracy (10,000 digits) per epoch: ${history.map((e) => pct(e.validationAccuracy)).join(", ")}; ${minutes.toFixed(1)} min, ${history.at(-1)?.samplesPerSecond.toFixed(0)} samples/s`,
  ];
}
