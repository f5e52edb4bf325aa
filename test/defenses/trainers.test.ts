import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pgd } from "../../src/attacks/evasion/pgd.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { adversarialTraining } from "../../src/defenses/trainers/adversarial-training.js";
import { defensiveDistillation } from "../../src/defenses/trainers/distillation.js";
import { fastAdversarialTraining } from "../../src/defenses/trainers/fast-adversarial-training.js";
import { gaussianAugmentation } from "../../src/defenses/trainers/gaussian-augmentation.js";
import { type HardeningEpoch, runHardening } from "../../src/defenses/trainers/hardening.js";
import { trades } from "../../src/defenses/trainers/trades.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { adam } from "../../src/engine/optimizers.js";
import { countCorrect, type TrainingBatch, train } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { float32, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { train: trainSet, test: testSet } = loadMnist();
const trainLabels = labelsOf(trainSet.y);
const testLabels = labelsOf(testSet.y);
const subset = (n: number) => ({ x: sliceRows(trainSet.x, 0, n), labels: trainLabels.slice(0, n) });
const testX = (n: number) => sliceRows(testSet.x, 0, n);

const demoModel = () => OnnxClassifier.fromFile(demo, { trainable: true, batchSize: 64, threads: 1 });
const freshCnn = (seed: number) =>
  OnnxClassifier.create(buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed }), { trainable: true, batchSize: 64, threads: 1 });

async function accuracy(clf: OnnxClassifier, x: Tensor<"float32">): Promise<number> {
  const n = x.shape[0];
  return countCorrect(await clf.predict(x), testLabels.slice(0, n)) / n;
}

async function pgdAccuracy(clf: OnnxClassifier, n: number, eps: number, loss: "ce" | "margin" = "ce", maxIter = 10): Promise<number> {
  const x = testX(n);
  const { x: adv } = await pgd.run(clf, x, testLabels.slice(0, n), { ...pgd.defaults, eps, maxIter, loss }, { rng: createRng(7) });
  return accuracy(clf, adv);
}

test("fast adversarial training (FGSM from a random start) lifts PGD accuracy at ε=0.15 far above the undefended CNN's", async (t) => {
  const clf = await demoModel();
  const before = await pgdAccuracy(clf, 100, 0.15);
  await train(clf, subset(1000), {
    epochs: 1,
    batchSize: 64,
    seed: 0,
    optimizer: adam({ lr: 1e-3 }),
    transform: fastAdversarialTraining({ eps: 0.15, epsStep: 0.1875 }),
  });
  const after = await pgdAccuracy(clf, 100, 0.15);
  const clean = await accuracy(clf, testX(100));
  await clf.release();
  t.diagnostic(`PGD-10 ε=0.15 accuracy on 100 test samples: undefended ${before}, fast-AT ${after}; clean ${clean}`);
  assert.ok(before <= 0.4, `undefended PGD accuracy ${before}`);
  assert.ok(after >= 0.5 && after >= before + 0.2, `PGD accuracy ${before} → ${after}`);
  assert.ok(clean >= 0.9, `clean accuracy ${clean}`);
});

test("TRADES fine-tuning is far more robust than the same fine-tuning without it", async (t) => {
  const data = subset(500);
  const results: number[] = [];
  for (const transform of [undefined, trades({ eps: 0.15, epsStep: 0.06, maxIter: 3, beta: 6 })]) {
    const clf = await demoModel();
    await train(clf, data, { epochs: 1, batchSize: 64, seed: 0, optimizer: adam({ lr: 1e-3 }), transform });
    results.push(await pgdAccuracy(clf, 100, 0.15));
    await clf.release();
  }
  const [standard, robust] = results;
  t.diagnostic(`PGD-10 ε=0.15 accuracy: standard fine-tuning ${standard}, TRADES ${robust}`);
  assert.ok(robust >= standard + 0.15, `PGD accuracy at ε=0.15: standard ${standard}, TRADES ${robust}`);
});

test("the TRADES batch is [x; x′] with targets [onehot(y); softmax(f(x))], weights [1; β]/B and x′ inside the ε-ball", async () => {
  const clf = await demoModel();
  const x = testX(4);
  const labels = testLabels.slice(0, 4);
  const batch: TrainingBatch = { x, targets: clf.oneHot(labels), labels };
  const out = await trades({ eps: 0.1, epsStep: 0.05, maxIter: 2, beta: 6 })(batch, { classifier: clf, epoch: 1, step: 0, rng: createRng(0) });
  assert.deepEqual(out.x.shape, [8, 1, 28, 28]);
  assert.deepEqual(out.labels, [...labels, ...labels]);
  assert.deepEqual([...(out.weights ?? [])], [0.25, 0.25, 0.25, 0.25, 1.5, 1.5, 1.5, 1.5]);
  let maxShift = 0;
  for (let i = 0; i < x.data.length; i++) maxShift = Math.max(maxShift, Math.abs(out.x.data[x.data.length + i] - x.data[i]));
  assert.ok(maxShift <= 0.1 + 1e-6 && maxShift > 0.05, `‖x′ − x‖∞ = ${maxShift}`);
  const logits = (await clf.predict(x)).data;
  for (let r = 0; r < 4; r++) {
    const row = Array.from(logits.subarray(r * 10, r * 10 + 10));
    const max = Math.max(...row);
    const sum = row.reduce((a, z) => a + Math.exp(z - max), 0);
    for (let j = 0; j < 10; j++) assert.ok(Math.abs(out.targets.data[(4 + r) * 10 + j] - Math.exp(row[j] - max) / sum) < 1e-5);
  }
  await clf.release();
});

test("defensive distillation at T=100 masks gradients: PGD on the softmax cross-entropy fails, PGD on the logit margin (C&W) succeeds", async (t) => {
  const teacher = await freshCnn(0);
  const student = await freshCnn(1);
  // Training at T=100 scales the logits ~100× up, which takes many small steps: batch 32.
  await defensiveDistillation(teacher, student, subset(1000), { temperature: 100, epochs: 2, batchSize: 32, seed: 0, optimizer: () => adam({ lr: 2e-3 }) });
  const clean = await accuracy(student, testX(100));
  const ce = await pgdAccuracy(student, 100, 0.3, "ce", 20);
  const margin = await pgdAccuracy(student, 100, 0.3, "margin", 20);
  await teacher.release();
  await student.release();
  t.diagnostic(`distilled student: clean ${clean}, PGD-20 ε=0.3 with CE ${ce}, with the margin loss ${margin}`);
  assert.ok(clean >= 0.55, `student clean accuracy ${clean}`);
  // The undefended CNN falls to ~0% under the same PGD; the distilled one only looks robust.
  assert.ok(ce >= 0.35, `PGD-CE accuracy ${ce} (gradient masking expected)`);
  assert.ok(margin <= 0.05, `PGD-margin accuracy ${margin}`);
});

test("Gaussian augmentation keeps accuracy under Gaussian noise higher than the model trained without it", async (t) => {
  const rng = createRng(5);
  const x = testX(300);
  const noisy = (sigma: number) =>
    float32(
      x.shape,
      Float32Array.from(x.data, (v) => v + sigma * rng.normal()),
    );
  const noisy25 = noisy(0.25);
  const noisy50 = noisy(0.5);
  const measured: { clean: number; at25: number; at50: number }[] = [];
  for (const transform of [undefined, gaussianAugmentation({ sigma: 0.5 })]) {
    const clf = await demoModel();
    await train(clf, subset(1000), { epochs: 1, batchSize: 64, seed: 0, optimizer: adam({ lr: 5e-4 }), transform });
    measured.push({ clean: await accuracy(clf, x), at25: await accuracy(clf, noisy25), at50: await accuracy(clf, noisy50) });
    await clf.release();
  }
  const [standard, augmented] = measured;
  t.diagnostic(`standard ${JSON.stringify(standard)}, augmented ${JSON.stringify(augmented)}`);
  assert.ok(augmented.at50 >= standard.at50 + 0.1, `accuracy at σ=0.5: standard ${standard.at50}, augmented ${augmented.at50}`);
  assert.ok(augmented.at25 >= standard.at25, `accuracy at σ=0.25: standard ${standard.at25}, augmented ${augmented.at25}`);
  assert.ok(augmented.clean >= 0.9, `clean accuracy ${augmented.clean}`);
});

test("Gaussian augmentation noises the requested share of the batch, unclipped, with the requested σ", async () => {
  const n = 200;
  const x = float32([n, 50], new Float32Array(n * 50).fill(0.5));
  const batch: TrainingBatch = { x, targets: float32([n, 2]), labels: new Array(n).fill(0) };
  const ctx = { classifier: undefined as unknown as OnnxClassifier, epoch: 1, step: 0, rng: createRng(3) };
  const out = await gaussianAugmentation({ sigma: 0.8, ratio: 0.5 })(batch, ctx);
  const d = Array.from(out.x.data, (v) => v - 0.5);
  const noisy = d.slice(0, 100 * 50);
  assert.ok(
    d.slice(100 * 50).every((v) => v === 0),
    "the second half stays clean",
  );
  const std = Math.sqrt(noisy.reduce((a, v) => a + v * v, 0) / noisy.length);
  assert.ok(Math.abs(std - 0.8) < 0.03, `std ${std}`);
  assert.ok(Math.max(...out.x.data) > 1 && Math.min(...out.x.data) < 0, "not clipped to [0, 1] (Cohen et al.)");
  assert.throws(
    () => gaussianAugmentation({ sigma: -1 }),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION",
  );
});

test("a PGD-AT run interrupted in epoch 2 and resumed from its checkpoint ends with exactly the weights of an uninterrupted run", async () => {
  const data = subset(256);
  const evaluation = { x: testX(32), labels: testLabels.slice(0, 32), eps: 0.2, maxIter: 2 };
  const options = (dir: string, optimizer = adam({ lr: 1e-3 })) => ({
    epochs: 2,
    batchSize: 64,
    seed: 3,
    optimizer,
    learningRate: (t: number) => 1e-3 * (1 - t / 4),
    transform: adversarialTraining({ eps: 0.2, epsStep: 0.1, maxIter: 2, rampEpochs: 2 }),
    evaluation,
    checkpointDir: dir,
    fingerprint: { test: "resume" },
  });
  const strip = (h: HardeningEpoch[]) => h.map(({ seconds, samplesPerSecond, ...rest }) => rest);

  const whole = await demoModel();
  const expected = await runHardening(whole, data, options(mkdtempSync(join(tmpdir(), "aegis-harden-a-"))));

  const dir = mkdtempSync(join(tmpdir(), "aegis-harden-b-"));
  const first = await demoModel();
  const controller = new AbortController();
  await assert.rejects(
    runHardening(first, data, {
      ...options(dir),
      signal: controller.signal,
      onStep: ({ epoch, step }) => {
        if (epoch === 2 && step === 2) controller.abort();
      },
    }),
    (e: unknown) => e instanceof AegisError && e.code === "INTERRUPTED" && /--resume/.test(e.message),
  );
  await first.release();

  const resumed = await demoModel();
  const history = await runHardening(resumed, data, { ...options(dir), resume: true });
  assert.deepEqual(strip(history), strip(expected));
  for (const [i, p] of whole.parameters.entries()) assert.deepEqual(resumed.parameters[i].value, p.value, `parameter ${p.name}`);
  assert.equal(history.length, 2);
  assert.ok(history.every((e) => e.robustAccuracy !== undefined && e.cleanAccuracy !== undefined));

  // Other settings are refused instead of silently mixing two runs.
  await assert.rejects(
    runHardening(await demoModel(), data, { ...options(dir), resume: true, fingerprint: { test: "other" } }),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION",
  );
  await whole.release();
  await resumed.release();
});
