/**
 * The Jacobian capability (engine/jacobian.ts, issue 23): DeepFool, FAB and JSMA on a
 * 10-class model asking for all the output differences they linearise in one ONNX Runtime
 * run, against the same attacks served one class gradient per backward pass (what they
 * did before, and what any model without the capability still gets), in the same run.
 * The results must be the same: the samples whose outcome (adversarial or not) differs and
 * the largest difference of the adversarial inputs are printed next to the speed-up, and the
 * two paths alternate, repeated (BENCH_JACOBIAN_REPETITIONS, default 2), with the load average. On the bundled MNIST CNN and on a CIFAR-10-sized
 * (3×32×32) ResNet with random weights and random images labelled by its own predictions
 * (DeepFool and FAB only: JSMA over 3,072 features takes minutes per image).
 */
import { loadavg } from "node:os";
import { type AttackOutput, deepFool, fab, jsma } from "../src/attacks/index.js";
import { loadMnist } from "../src/data/index.js";
import { createRng } from "../src/data/random.js";
import { buildArchitecture, type ClassGradient, OnnxClassifier, type Predictor } from "../src/engine/index.js";
import { argmaxRow } from "../src/engine/trainer.js";
import { float32, labelsOf, sizeOf, sliceRows, type Tensor } from "../src/tensor.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const repetitions = Number(process.env.BENCH_JACOBIAN_REPETITIONS ?? 2);
/** BENCH_JACOBIAN_ATTACKS=deepfool,fab measures only those. */
const only = process.env.BENCH_JACOBIAN_ATTACKS?.split(",");
const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;

/** The classifier with its class gradients only, so every output gradient is composed from one backward pass per class. */
function classGradientsOnly(clf: OnnxClassifier): Predictor & ClassGradient {
  return {
    inputShape: clf.inputShape,
    numClasses: clf.numClasses,
    clipRange: clf.clipRange,
    outputKind: clf.outputKind,
    predict: (x) => clf.predict(x),
    classGradient: (x, classes) => clf.classGradient(x, classes),
  };
}

interface Timed<T> {
  value: T;
  seconds: number;
  cpu: number;
}

async function timed<T>(f: () => Promise<T>): Promise<Timed<T>> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const value = await f();
  const c = process.cpuUsage(c0);
  return { value, seconds: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6 };
}

function maxDifference(a: Tensor<"float32">, b: Tensor<"float32">): number {
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
  return d;
}

/** Samples whose adversarial outcome (the attack's output misclassified or not) differs between the two results. */
async function outcomesDiffering(clf: OnnxClassifier, a: Tensor<"float32">, b: Tensor<"float32">, y: number[], targeted: boolean): Promise<number> {
  const [pa, pb] = [await clf.predict(a), await clf.predict(b)];
  const fooled = (out: Tensor<"float32">, i: number) => (targeted ? argmaxRow(out, i) === y[i] : argmaxRow(out, i) !== y[i]);
  return y.filter((_, i) => fooled(pa, i) !== fooled(pb, i)).length;
}

const loadAverage = () => loadavg()[0].toFixed(1);

async function compare(label: string, clf: OnnxClassifier, x: Tensor<"float32">, y: number[], names: readonly string[]): Promise<string[]> {
  const lines: string[] = [];
  const composed = classGradientsOnly(clf);
  const n = x.shape[0];
  const targets = y.map((c) => (c + 1) % clf.numClasses);
  const attacks = [
    { name: "deepfool", labels: y, run: (m: Predictor & ClassGradient) => deepFool.run(m, x, y, deepFool.defaults, { rng: createRng(0) }) },
    { name: "fab", labels: y, run: (m: Predictor & ClassGradient) => fab.run(m, x, y, fab.defaults, { rng: createRng(0) }) },
    // JSMA is targeted: every image towards the class after its own.
    { name: "jsma", labels: targets, run: (m: Predictor & ClassGradient) => jsma.run(m, x, targets, jsma.defaults, { rng: createRng(0) }) },
  ];
  for (const attack of attacks.filter((a) => names.includes(a.name) && (!only || only.includes(a.name)))) {
    // Builds both paths' gradient graphs outside the timing.
    await attack.run(clf);
    await attack.run(composed);
    // The two paths alternate, the one path first in even repetitions, so that a change in the machine's load hits both.
    const fast: Timed<AttackOutput>[] = [];
    const slow: Timed<AttackOutput>[] = [];
    const loads = [loadAverage()];
    for (let rep = 0; rep < repetitions; rep++) {
      if (rep % 2 === 0) fast.push(await timed(() => attack.run(clf)));
      slow.push(await timed(() => attack.run(composed)));
      if (rep % 2 === 1) fast.push(await timed(() => attack.run(clf)));
      loads.push(loadAverage());
    }
    const sum = (ts: Timed<AttackOutput>[], key: "seconds" | "cpu") => ts.reduce((a, t) => a + t[key], 0);
    const ratios = fast.map((f, i) => (slow[i].seconds / f.seconds).toFixed(2)).join(", ");
    const differing = await outcomesDiffering(clf, fast[0].value.x, slow[0].value.x, attack.labels, attack.name === "jsma");
    lines.push(
      `${label} ${attack.name.padEnd(8)} ${n} samples ×${repetitions}: one run ${(sum(fast, "seconds") / repetitions).toFixed(1)} s (CPU ${(sum(fast, "cpu") / repetitions).toFixed(1)} s), a class gradient per class ${(sum(slow, "seconds") / repetitions).toFixed(1)} s (CPU ${(sum(slow, "cpu") / repetitions).toFixed(1)} s): ${(sum(slow, "seconds") / sum(fast, "seconds")).toFixed(2)}× faster (CPU ${(sum(slow, "cpu") / sum(fast, "cpu")).toFixed(2)}×; by repetition ${ratios}), load average ${loads.join(" → ")}; outcome differs on ${differing} of ${n}, max |Δx| ${maxDifference(fast[0].value.x, slow[0].value.x).toExponential(1)}`,
    );
  }
  return lines;
}

export async function benchJacobian(): Promise<string[]> {
  const lines = [`Jacobian in one run (DeepFool, FAB, JSMA at their defaults, ${threads} threads, the two paths alternating):`];
  const { test } = loadMnist();
  const n = Number(process.env.BENCH_JACOBIAN_SAMPLES ?? 100);
  const mnist = await OnnxClassifier.fromFile(demo, { threads });
  lines.push(...(await compare("MNIST CNN      ", mnist, sliceRows(test.x, 0, n), labelsOf(test.y).slice(0, n), ["deepfool", "fab", "jsma"])));
  await mnist.release();

  const cifarShape = [3, 32, 32];
  const resnet = await OnnxClassifier.create(buildArchitecture("resnet-small", { inputShape: cifarShape, numClasses: 10, seed: 0 }), { threads });
  const m = Math.max(4, Math.round(n / 5));
  const rng = createRng(1);
  const x = float32(
    [m, ...cifarShape],
    Float32Array.from({ length: m * sizeOf(cifarShape) }, () => rng.next()),
  );
  const out = await resnet.predict(x);
  lines.push(
    ...(await compare(
      "CIFAR-10 ResNet",
      resnet,
      x,
      Array.from({ length: m }, (_, i) => argmaxRow(out, i)),
      ["deepfool", "fab"],
    )),
  );
  await resnet.release();
  return lines;
}
