/**
 * `npm run bench`: Aegis's engine against PyTorch's CPU autograd on the same machine,
 * thread count and model (the MNIST CNN of the engine issue), measured side by side in
 * one run. Prints ratios; PyTorch comes from Debian's python3-torch when installed.
 * Also checks that peak memory of a streamed gradient run follows the batch, not the
 * dataset.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createRng } from "../src/data/random.js";
import { buildArchitecture } from "../src/engine/architectures.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { adam } from "../src/engine/optimizers.js";
import { train } from "../src/engine/trainer.js";
import { float32, sliceRows } from "../src/tensor.js";
import { benchAttacks } from "./attacks.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const batch = 128;
const gradIters = Number(process.env.BENCH_ITERS ?? 30);
const trainSamples = 8000;
const python = "/usr/bin/python3";

function randomImages(n: number, seed: number) {
  const rng = createRng(seed);
  return float32(
    [n, 1, 28, 28],
    Float32Array.from({ length: n * 784 }, () => rng.next()),
  );
}

async function timeIt(iters: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  const start = performance.now();
  for (let i = 0; i < iters; i++) await fn();
  return (performance.now() - start) / iters;
}

async function aegisNumbers() {
  const model = buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  const clf = await OnnxClassifier.create(model, { threads, batchSize: batch });
  const x = randomImages(batch, 1);
  const labels = Array.from({ length: batch }, (_, i) => i % 10);
  const forwardMs = await timeIt(gradIters, () => clf.predict(x));
  const gradMs = await timeIt(gradIters, () => clf.lossGradient(x, labels));
  await clf.release();

  const trainable = await OnnxClassifier.create(model, { threads, batchSize: batch, trainable: true });
  const data = randomImages(trainSamples, 2);
  const trainLabels = Array.from({ length: trainSamples }, (_, i) => (i * 7) % 10);
  const [epoch] = await train(trainable, { x: data, labels: trainLabels }, { epochs: 1, batchSize: batch, optimizer: adam({ lr: 1e-3 }) });
  await trainable.release();
  return { forwardMs, gradMs, trainSamplesPerS: epoch.samplesPerSecond };
}

function torchNumbers(): { torch: string; forward_ms: number; grad_ms: number; train_samples_per_s: number } | undefined {
  if (!existsSync(python)) return undefined;
  try {
    const out = execFileSync(
      python,
      [new URL("torch_reference.py", import.meta.url).pathname, String(threads), String(batch), String(gradIters), String(trainSamples)],
      {
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    return JSON.parse(out.trim().split("\n").at(-1) as string);
  } catch {
    return undefined;
  }
}

/** Peak RSS growth while streaming input gradients over n samples, in MB. */
async function peakMemory(n: number): Promise<number> {
  const model = buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  const clf = await OnnxClassifier.create(model, { threads, batchSize: batch });
  const x = randomImages(n, 3);
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  const before = process.memoryUsage().rss;
  let peak = before;
  for (let start = 0; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    await clf.lossGradient(sliceRows(x, start, end), labels.slice(start, end));
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  await clf.release();
  return (peak - before) / 2 ** 20;
}

const aegis = await aegisNumbers();
const torch = torchNumbers();
const rows: string[][] = [["measure", "aegis", "pytorch", "ratio (aegis speed / pytorch speed)"]];
const fmt = (v: number, d = 1) => v.toFixed(d);
const ratio = (ours: number, theirs: number | undefined, lowerIsBetter: boolean) =>
  theirs === undefined ? "n/a" : `${fmt(lowerIsBetter ? theirs / ours : ours / theirs, 2)}×`;
rows.push(["forward, ms/batch of 128", fmt(aegis.forwardMs), torch ? fmt(torch.forward_ms) : "n/a", ratio(aegis.forwardMs, torch?.forward_ms, true)]);
rows.push(["input gradient, ms/batch of 128", fmt(aegis.gradMs), torch ? fmt(torch.grad_ms) : "n/a", ratio(aegis.gradMs, torch?.grad_ms, true)]);
rows.push([
  "training, samples/s (8,000 samples, adam)",
  fmt(aegis.trainSamplesPerS, 0),
  torch ? fmt(torch.train_samples_per_s, 0) : "n/a",
  ratio(aegis.trainSamplesPerS, torch?.train_samples_per_s, false),
]);
const small = await peakMemory(1000);
const large = await peakMemory(8000);

console.log(`MNIST CNN (2×conv 32/64, maxpool, dense 128, dense 10), ${threads} threads, ${gradIters} timed iterations`);
console.log(
  torch
    ? `reference: PyTorch ${torch.torch} CPU autograd via ${python}`
    : `reference: PyTorch not found at ${python} (apt-get install python3-torch); ratios omitted`,
);
for (const r of rows) console.log(r.map((c, i) => c.padEnd(i === 0 ? 44 : 12)).join(""));
console.log(`peak RSS growth streaming input gradients: ${fmt(small)} MB for 1,000 samples, ${fmt(large)} MB for 8,000 samples (input data excluded)`);

console.log("");
for (const line of await benchAttacks()) console.log(line);
for (const line of ["", ...(await (await import("./scan.js")).benchScan())]) console.log(line);
for (const line of ["", ...(await (await import("./extraction-detection.js")).benchExtractionDetection())]) console.log(line);
for (const line of ["", ...(await (await import("./adversarial-detection.js")).benchAdversarialDetection())]) console.log(line);
for (const line of ["", ...(await (await import("./llm.js")).benchLlm())]) console.log(line);
for (const line of ["", ...(await (await import("./llm-injection.js")).benchInjection())]) console.log(line);
for (const line of ["", ...(await (await import("./gateway.js")).benchGateway())]) console.log(line);
for (const line of ["", ...(await (await import("./gateway-limits.js")).benchGatewayLimits())]) console.log(line);
for (const line of ["", ...(await (await import("./harden.js")).benchHarden((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./certify.js")).benchCertify())]) console.log(line);
