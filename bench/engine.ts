/**
 * The engine against PyTorch's CPU autograd (Debian's python3-torch) on the same machine,
 * thread count and model: the MNIST CNN (2×conv 32/64, maxpool, dense 128, dense 10).
 * PyTorch runs as a server process and the two are measured in alternating rounds, so a
 * busy machine slows both alike; each side's median round is reported. Peak memory of
 * training is measured in fresh processes (bench/engine-memory.ts).
 */
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createInterface, type Interface } from "node:readline";
import { createRng } from "../src/data/random.js";
import { buildArchitecture } from "../src/engine/architectures.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { crossEntropy } from "../src/engine/losses.js";
import { adam } from "../src/engine/optimizers.js";
import { perExampleGradients } from "../src/engine/per-example.js";
import { train } from "../src/engine/trainer.js";
import { trainingStep } from "../src/engine/training-step.js";
import { float32 } from "../src/tensor.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const python = "/usr/bin/python3";

export function randomImages(n: number, seed: number) {
  const rng = createRng(seed);
  return float32(
    [n, 1, 28, 28],
    Float32Array.from({ length: n * 784 }, () => rng.next()),
  );
}

async function timeIt(iters: number, fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 2; i++) await fn();
  const start = performance.now();
  for (let i = 0; i < iters; i++) await fn();
  return (performance.now() - start) / iters;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The PyTorch server of bench/torch_reference.py, or undefined when torch is missing. */
class Torch {
  private constructor(
    private readonly child: ChildProcessWithoutNullStreams,
    private readonly lines: AsyncIterator<string>,
    readonly version: string,
  ) {}

  static async start(): Promise<Torch | undefined> {
    if (!existsSync(python)) return undefined;
    try {
      execFileSync(python, ["-c", "import torch, functorch"], { stdio: "ignore" });
    } catch {
      return undefined;
    }
    const child = spawn(python, [new URL("torch_reference.py", import.meta.url).pathname, String(threads)]);
    const lines = (createInterface({ input: child.stdout }) as Interface)[Symbol.asyncIterator]();
    const hello = JSON.parse((await lines.next()).value as string) as { torch: string };
    return new Torch(child, lines, hello.torch);
  }

  async ask<T>(command: Record<string, unknown>): Promise<T> {
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
    const line = await this.lines.next();
    if (line.done) throw new Error("the PyTorch reference exited");
    return JSON.parse(line.value) as T;
  }

  stop(): void {
    this.child.stdin.end();
  }
}

interface Row {
  measure: string;
  aegis: number;
  torch?: number;
  /** Higher is better (samples/s) or lower (ms). */
  higherIsBetter: boolean;
}

/** Alternates `rounds` measurements of both sides and keeps each side's median. */
async function sideBySide(ours: () => Promise<number>, theirs: (() => Promise<number>) | undefined): Promise<[number, number | undefined]> {
  const a: number[] = [];
  const t: number[] = [];
  for (let r = 0; r < rounds; r++) {
    a.push(await ours());
    if (theirs) t.push(await theirs());
  }
  return [median(a), theirs ? median(t) : undefined];
}

async function inference(torch: Torch | undefined, batch: number): Promise<Row[]> {
  const iters = Number(process.env.BENCH_ITERS ?? 10);
  const model = buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  const clf = await OnnxClassifier.create(model, { threads, batchSize: batch });
  const x = randomImages(batch, 1);
  const labels = Array.from({ length: batch }, (_, i) => i % 10);
  const ask = (cmd: string) => (torch ? async () => (await torch.ask<{ ms: number }>({ cmd, batch, iters })).ms : undefined);
  const [forward, torchForward] = await sideBySide(() => timeIt(iters, () => clf.predict(x)), ask("forward"));
  const [grad, torchGrad] = await sideBySide(() => timeIt(iters, () => clf.lossGradient(x, labels)), ask("input_grad"));
  await clf.release();
  return [
    { measure: `forward, ms/batch of ${batch}`, aegis: forward, torch: torchForward, higherIsBetter: false },
    { measure: `input gradient, ms/batch of ${batch}`, aegis: grad, torch: torchGrad, higherIsBetter: false },
  ];
}

async function training(torch: Torch | undefined, batch: number): Promise<Row> {
  const steps = Math.max(4, Math.round(1024 / batch));
  const model = buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  const clf = await OnnxClassifier.create(model, { threads, batchSize: batch, trainable: true });
  const optimizer = adam({ lr: 1e-3 });
  const data = { x: randomImages(steps * batch, 2), labels: Array.from({ length: steps * batch }, (_, i) => (i * 7) % 10) };
  const epoch = async () => (await train(clf, data, { epochs: 1, batchSize: batch, optimizer }))[0].samplesPerSecond;
  await epoch(); // builds the step's graph
  const [ours, theirs] = await sideBySide(
    epoch,
    torch ? async () => (await torch.ask<{ samples_per_s: number }>({ cmd: "train", batch, steps })).samples_per_s : undefined,
  );
  await clf.release();
  return { measure: `training, samples/s (batch ${batch}, adam)`, aegis: ours, torch: theirs, higherIsBetter: true };
}

/**
 * Per-example gradient norms of a batch (one run) and DP-SGD's clipped sum, each against
 * one ordinary training step of the same batch, and against functorch's vmap(grad).
 */
async function perExample(torch: Torch | undefined, batch: number): Promise<string[]> {
  const iters = 3;
  const model = buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  const clf = await OnnxClassifier.create(model, { threads, batchSize: batch, trainable: true });
  const x = randomImages(batch, 4);
  const targets = clf.oneHot(Array.from({ length: batch }, (_, i) => i % 10));
  const weights = new Float32Array(batch).fill(1 / batch);
  const optimizer = adam({ lr: 1e-3 });
  const step = () => timeIt(iters, () => trainingStep(clf, { x, targets, weights }, optimizer, crossEntropy));
  const norms = () => timeIt(iters, () => perExampleGradients(clf, x, targets));
  const clipped = () => timeIt(iters, () => perExampleGradients(clf, x, targets, { clipNorm: 1 }));
  const stepMs: number[] = [];
  const normsMs: number[] = [];
  const clippedMs: number[] = [];
  const torchMs: number[] = [];
  for (let r = 0; r < rounds; r++) {
    stepMs.push(await step());
    normsMs.push(await norms());
    clippedMs.push(await clipped());
    if (torch) torchMs.push((await torch.ask<{ ms: number }>({ cmd: "per_sample_norms", batch, iters: 1 })).ms);
  }
  await clf.release();
  const [s, n, c] = [median(stepMs), median(normsMs), median(clippedMs)];
  const vsTorch = torch ? `; functorch vmap(grad) ${median(torchMs).toFixed(0)} ms (${(median(torchMs) / n).toFixed(1)}× slower)` : "";
  return [
    `per-example gradient norms, batch ${batch}: ${n.toFixed(1)} ms = ${(n / s).toFixed(2)}× one training step (${s.toFixed(1)} ms)${vsTorch}`,
    `  with DP-SGD's clipped sum in the same run: ${c.toFixed(1)} ms = ${(c / s).toFixed(2)}× one training step`,
  ];
}

/** Peak RSS growth of one run of bench/engine-memory.ts (a fresh process), in MB. */
function peakMemory(mode: "train" | "input-gradient", batch: number, samples: number): string {
  const script = new URL("engine-memory.ts", import.meta.url).pathname;
  const out = execFileSync(process.execPath, ["--import", "tsx", script, mode, String(batch), String(samples), String(threads)], { encoding: "utf8" });
  return `${Number(out.trim()).toFixed(1)} MB (batch ${batch}, ${samples.toLocaleString("en-US")} samples)`;
}

export async function benchEngine(): Promise<string[]> {
  const torch = await Torch.start();
  const rows: Row[] = [];
  let perExampleLines: string[] = [];
  try {
    rows.push(...(await inference(torch, 128)));
    for (const batch of [64, 128]) rows.push(await training(torch, batch));
    perExampleLines = await perExample(torch, 128);
  } finally {
    torch?.stop();
  }
  const fmt = (v: number | undefined, d = 1) => (v === undefined ? "n/a" : v.toFixed(d));
  const lines = [
    `MNIST CNN (2×conv 32/64, maxpool, dense 128, dense 10), ${threads} threads, median of ${rounds} alternating rounds`,
    torch
      ? `reference: PyTorch ${torch.version} CPU autograd via ${python}`
      : `reference: PyTorch not found at ${python} (apt-get install python3-torch); ratios omitted`,
    `${"measure".padEnd(44)}${"aegis".padEnd(12)}${"pytorch".padEnd(12)}ratio (aegis speed / pytorch speed)`,
  ];
  for (const r of rows) {
    const ratio = r.torch === undefined ? "n/a" : `${fmt(r.higherIsBetter ? r.aegis / r.torch : r.torch / r.aegis, 2)}×`;
    const digits = r.higherIsBetter ? 0 : 1;
    lines.push(`${r.measure.padEnd(44)}${fmt(r.aegis, digits).padEnd(12)}${fmt(r.torch, digits).padEnd(12)}${ratio}`);
  }
  lines.push(...perExampleLines);
  const sizes = [
    [64, 2000],
    [64, 8000],
    [128, 2000],
    [128, 8000],
  ];
  lines.push(`peak RSS growth, data excluded, one epoch of training: ${sizes.map(([b, n]) => peakMemory("train", b, n)).join(", ")}`);
  lines.push(
    `  streaming input gradients: ${sizes
      .slice(2)
      .map(([b, n]) => peakMemory("input-gradient", b, n))
      .join(", ")}`,
  );
  return lines;
}
