/**
 * The Jacobian capability (engine/jacobian.ts, issue 23): DeepFool, FAB and JSMA on a
 * 10-class model asking for all the output differences they linearise in one ONNX Runtime
 * run, against the same attacks served one class gradient per backward pass (what they
 * did before, and what any model without the capability still gets), in the same run.
 * The results must be the same: the largest difference of the adversarial inputs is
 * printed next to the speed-up. On the bundled MNIST CNN and on a CIFAR-10-sized
 * (3×32×32) ResNet with random weights and random images labelled by its own predictions
 * (DeepFool and FAB only: JSMA over 3,072 features takes minutes per image).
 */
import { deepFool, fab, jsma } from "../src/attacks/index.js";
import { loadMnist } from "../src/data/index.js";
import { createRng } from "../src/data/random.js";
import { buildArchitecture, type ClassGradient, OnnxClassifier, type Predictor } from "../src/engine/index.js";
import { argmaxRow } from "../src/engine/trainer.js";
import { float32, labelsOf, sizeOf, sliceRows, type Tensor } from "../src/tensor.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
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

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t0 = performance.now();
  const value = await f();
  return { value, seconds: (performance.now() - t0) / 1000 };
}

function maxDifference(a: Tensor<"float32">, b: Tensor<"float32">): number {
  let d = 0;
  for (let i = 0; i < a.data.length; i++) d = Math.max(d, Math.abs(a.data[i] - b.data[i]));
  return d;
}

async function compare(label: string, clf: OnnxClassifier, x: Tensor<"float32">, y: number[], names: readonly string[]): Promise<string[]> {
  const lines: string[] = [];
  const composed = classGradientsOnly(clf);
  const n = x.shape[0];
  const attacks = [
    { name: "deepfool", run: (m: Predictor & ClassGradient) => deepFool.run(m, x, y, deepFool.defaults, { rng: createRng(0) }) },
    { name: "fab", run: (m: Predictor & ClassGradient) => fab.run(m, x, y, fab.defaults, { rng: createRng(0) }) },
    // JSMA is targeted: every image towards the class after its own.
    {
      name: "jsma",
      run: (m: Predictor & ClassGradient) =>
        jsma.run(
          m,
          x,
          y.map((c) => (c + 1) % clf.numClasses),
          jsma.defaults,
          { rng: createRng(0) },
        ),
    },
  ];
  // Builds both gradient graphs outside the timing.
  await attacks[0].run(clf);
  for (const attack of attacks.filter((a) => names.includes(a.name))) {
    const fast = await timed(() => attack.run(clf));
    const slow = await timed(() => attack.run(composed));
    lines.push(
      `${label} ${attack.name.padEnd(8)} ${n} samples: one run ${fast.seconds.toFixed(1)} s, a class gradient per pass ${slow.seconds.toFixed(1)} s: ${(slow.seconds / fast.seconds).toFixed(2)}× faster, max |Δx| ${maxDifference(fast.value.x, slow.value.x).toExponential(1)}`,
    );
  }
  return lines;
}

export async function benchJacobian(): Promise<string[]> {
  const lines = [`Jacobian in one run (DeepFool, FAB, JSMA at their defaults, ${threads} threads):`];
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
