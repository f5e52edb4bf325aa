/**
 * `aegis harden --dp`: DP-SGD composes with the hardening methods whose training input per
 * example depends on that example alone (here Gaussian augmentation of a new MLP), the
 * written model records the guarantee the accountant gives for the run's steps, and
 * TRADES, fast-AT (its overfitting check reads training data without noise) and
 * distillation are refused with the reason.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadMnist, saveNpz } from "../../src/data/index.js";
import { type HardenSettings, harden } from "../../src/defenses/index.js";
import { loadModel } from "../../src/onnx/io.js";
import { epsilonSpent, readDpMetadata } from "../../src/privacy/index.js";
import { sliceRows } from "../../src/tensor.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-harden-dp-"));
const { train, test: held } = loadMnist();
const trainFile = join(dir, "train.npz");
const testFile = join(dir, "test.npz");
saveNpz(trainFile, { x: sliceRows(train.x, 0, 384), y: sliceRows(train.y, 0, 384) });
saveNpz(testFile, { x: sliceRows(held.x, 0, 64), y: sliceRows(held.y, 0, 64) });

const settings = (over: Partial<HardenSettings>): HardenSettings => ({
  method: "gaussian-augmentation",
  arch: "mlp",
  data: trainFile,
  testData: testFile,
  out: join(dir, "out.onnx"),
  eps: 0.1,
  rampEpochs: 0,
  epochs: 2,
  batchSize: 64,
  optimizer: "sgd",
  lr: 0.5,
  beta: 6,
  temperature: 100,
  sigma: 0.25,
  evalSamples: 64,
  evalMaxIter: 5,
  seed: 0,
  runtime: { threads: 1 },
  dp: { noiseMultiplier: 1.1, maxGradNorm: 1, delta: 1e-5, accountant: "rdp" },
  ...over,
});

test("harden gaussian-augmentation --dp records the run's (ε, δ) in the model", async () => {
  const out = join(dir, "dp.onnx");
  const result = await harden(settings({ out }));
  const steps = 2 * Math.round(384 / 64);
  const epsilon = epsilonSpent([{ noiseMultiplier: 1.1, samplingRate: 64 / 384, steps }], 1e-5).epsilon;
  assert.equal(result.differentialPrivacy?.steps, steps);
  assert.equal(result.differentialPrivacy?.epsilon, epsilon);
  assert.deepEqual(readDpMetadata(loadModel(out)), result.differentialPrivacy);
  assert.equal(result.differentialPrivacy?.noiseSeeded, false);
});

test("harden --dp refuses TRADES, fast-AT and distillation, saying why", async () => {
  await assert.rejects(harden(settings({ method: "trades" })), (e: Error & { code?: string }) => e.code === "BAD_OPTION" && /TRADES/.test(e.message));
  await assert.rejects(
    harden(settings({ method: "fast-at" })),
    (e: Error & { code?: string }) => e.code === "BAD_OPTION" && /training minibatch/.test(e.message),
  );
  await assert.rejects(harden(settings({ method: "distillation" })), (e: Error & { code?: string }) => e.code === "BAD_OPTION" && /teacher/.test(e.message));
});
