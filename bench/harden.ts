/**
 * The headline of the hardening issue: PGD adversarial training (Madry et al. 2018) of the
 * bundled MNIST CNN at ε=0.3 on the built-in 8,000 training samples, then clean accuracy
 * and robust accuracy under PGD-40 (ε=0.3, step 0.01, one random start) on the 2,000 test
 * samples, next to the undefended model under the same attack and Madry et al.'s 89–92%
 * (60,000 samples, ~100,000 steps of a larger network). It starts from the bundled
 * (undefended) weights and takes ~15–20 min on 2 cores. The run checkpoints every epoch
 * under bench/.cache/ and BENCH_HARDEN_RESUME=1 continues an interrupted one;
 * BENCH_HARDEN_EPOCHS and BENCH_HARDEN_MAX_ITER change the schedule and the inner PGD.
 */
import { existsSync, mkdirSync } from "node:fs";
import { pgd } from "../src/attacks/evasion/pgd.js";
import { loadMnist } from "../src/data/index.js";
import { createRng } from "../src/data/random.js";
import { adversarialTraining } from "../src/defenses/trainers/adversarial-training.js";
import { cyclicLearningRate } from "../src/defenses/trainers/fast-adversarial-training.js";
import { CHECKPOINT_FILE, runHardening } from "../src/defenses/trainers/hardening.js";
import { OnnxClassifier } from "../src/engine/classifier.js";
import { adam } from "../src/engine/optimizers.js";
import { countCorrect } from "../src/engine/trainer.js";
import { saveModel } from "../src/onnx/io.js";
import { labelsOf, sliceRows, type Tensor } from "../src/tensor.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;
const cache = new URL("./.cache/", import.meta.url).pathname;

/**
 * Settings of the measured run. The paper's inner PGD is 40 × 0.01 with 100k steps of
 * Adam at 1e-4; to fit a 2-core budget this run uses PGD-5 from a random start with Madry
 * et al.'s step rule 2.5·ε/iterations (Wong et al. 2020 show even one random-start step
 * trains a robust MNIST model), a two-epoch ε ramp and Wong et al.'s cyclic learning rate,
 * which reaches its robustness in a few epochs. The evaluation is the paper's PGD-40.
 */
const maxIter = Number(process.env.BENCH_HARDEN_MAX_ITER ?? 5);

export const HARDEN_SETTINGS = {
  eps: 0.3,
  epsStep: (2.5 * 0.3) / maxIter,
  maxIter,
  rampEpochs: 2,
  epochs: Number(process.env.BENCH_HARDEN_EPOCHS ?? 14),
  batchSize: 128,
  /** Peak of the cyclic (triangular) learning rate, reached at 2/5 of the run. */
  lr: 3e-3,
  seed: 0,
};

/** PGD-40 at ε=0.3 with one random start; step 0.01 is Madry et al.'s evaluation, 0.01875 (2.5·ε/40) Aegis's default. */
async function pgd40(clf: OnnxClassifier, x: Tensor<"float32">, y: number[], epsStep = 0.01): Promise<number> {
  const params = { ...pgd.defaults, eps: 0.3, epsStep, maxIter: 40, restarts: 1 };
  const { x: adv } = await pgd.run(clf, x, y, params, { rng: createRng(1) });
  return countCorrect(await clf.predict(adv), y) / y.length;
}

export async function benchHarden(log: (line: string) => void = () => {}): Promise<string[]> {
  const s = HARDEN_SETTINGS;
  const { train, test } = loadMnist();
  const trainLabels = labelsOf(train.y);
  const testLabels = labelsOf(test.y);
  mkdirSync(cache, { recursive: true });

  const base = await OnnxClassifier.fromFile(demo, { threads });
  const baseClean = countCorrect(await base.predict(test.x), testLabels) / testLabels.length;
  const baseRobust = await pgd40(base, test.x, testLabels);
  await base.release();
  log(`undefended: clean ${(baseClean * 100).toFixed(2)}%, PGD-40 ${(baseRobust * 100).toFixed(2)}%`);

  const clf = await OnnxClassifier.fromFile(demo, { threads, trainable: true, batchSize: s.batchSize });
  const checkpointDir = `${cache}harden-checkpoints-${s.epochs}-${s.maxIter}`;
  const resume = process.env.BENCH_HARDEN_RESUME === "1" && existsSync(`${checkpointDir}/${CHECKPOINT_FILE}`);
  const started = performance.now();
  const history = await runHardening(
    clf,
    { x: train.x, labels: trainLabels },
    {
      epochs: s.epochs,
      batchSize: s.batchSize,
      seed: s.seed,
      optimizer: adam({ lr: s.lr }),
      learningRate: cyclicLearningRate(s.lr, s.epochs),
      transform: adversarialTraining({ eps: s.eps, epsStep: s.epsStep, maxIter: s.maxIter, rampEpochs: s.rampEpochs }),
      // Per-epoch monitoring only (PGD-10 on 200 samples); the result below is PGD-40 on all 2,000.
      evaluation: { x: sliceRows(test.x, 0, 200), labels: testLabels.slice(0, 200), eps: s.eps, maxIter: 10 },
      checkpointDir,
      resume,
      fingerprint: { ...s },
      onEpoch: (e) =>
        log(
          `epoch ${e.epoch}/${s.epochs}: loss ${e.loss.toFixed(4)} · train adv accuracy ${(e.accuracy * 100).toFixed(1)}% · ` +
            `test[0:200] clean ${((e.cleanAccuracy ?? 0) * 100).toFixed(1)}% PGD-10 ${((e.robustAccuracy ?? 0) * 100).toFixed(1)}% · ${e.seconds.toFixed(0)} s`,
        ),
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const trainSeconds = history.reduce((a, e) => a + e.seconds, 0);
  const clean = countCorrect(await clf.predict(test.x), testLabels) / testLabels.length;
  const robust = await pgd40(clf, test.x, testLabels);
  const robustLargerStep = await pgd40(clf, test.x, testLabels, 0.01875);
  const out = `${cache}mnist-cnn-pgd-at.onnx`;
  saveModel(out, clf.exportModel());
  await clf.release();
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  return [
    `PGD adversarial training, MNIST CNN, ε=0.3 (inner PGD-${s.maxIter}, step ${s.epsStep}, ε ramp over ${s.rampEpochs} epochs), ${s.epochs} epochs × 8,000 samples, batch ${s.batchSize}, adam, cyclic lr peak ${s.lr}:`,
    `  time ${(seconds / 60).toFixed(1)} min${resume ? " (this process; resumed from a checkpoint)" : ""}, training ${((s.epochs * trainLabels.length) / trainSeconds).toFixed(0)} samples/s`,
    `  hardened on 2,000 test samples: clean ${pct(clean)}, PGD-40 ε=0.3 (step 0.01, 1 random start) ${pct(robust)}; with step 0.01875 ${pct(robustLargerStep)}`,
    `  undefended: clean ${pct(baseClean)}, PGD-40 ${pct(baseRobust)}`,
    `  Madry et al. 2018 (60,000 samples, larger network, ~100k steps): 89–92% under PGD; wrote ${out}`,
  ];
}
