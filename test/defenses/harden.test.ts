import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadMnist, saveNpz } from "../../src/data/index.js";
import { type HardenSettings, harden } from "../../src/defenses/index.js";
import { CHECKPOINT_FILE } from "../../src/defenses/trainers/hardening.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { AegisError } from "../../src/errors.js";
import { sliceRows } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "aegis-harden-cli-"));
const { train, test: held } = loadMnist();
const trainFile = join(dir, "train.npz");
const testFile = join(dir, "test.npz");
saveNpz(trainFile, { x: sliceRows(train.x, 0, 384), y: sliceRows(train.y, 0, 384) });
saveNpz(testFile, { x: sliceRows(held.x, 0, 64), y: sliceRows(held.y, 0, 64) });

const settings = (over: Partial<HardenSettings>): HardenSettings => ({
  method: "fast-at",
  model: demo,
  data: trainFile,
  testData: testFile,
  out: join(dir, "out.onnx"),
  eps: 0.1,
  rampEpochs: 0,
  epochs: 1,
  batchSize: 64,
  optimizer: "adam",
  beta: 6,
  temperature: 100,
  sigma: 0.25,
  evalSamples: 64,
  evalMaxIter: 5,
  seed: 0,
  runtime: { threads: 1 },
  ...over,
});

test("harden fast-at writes a loadable model, per-epoch clean/robust accuracy and a checkpoint; --resume continues it", async () => {
  const checkpointDir = join(dir, "ckpt");
  const out = join(dir, "fast-at.onnx");
  const first = await harden(settings({ out, checkpointDir }));
  assert.equal(first.history.length, 1);
  const e = first.history[0];
  assert.ok(e.cleanAccuracy !== undefined && e.cleanAccuracy > 0.8, `clean ${e.cleanAccuracy}`);
  assert.ok(e.robustAccuracy !== undefined && e.robustAccuracy <= e.cleanAccuracy);
  assert.ok(typeof e.notes?.checkPgdAccuracy === "number" && e.notes.catastrophicOverfitting === false);
  assert.ok(existsSync(join(checkpointDir, CHECKPOINT_FILE)));
  assert.ok(first.final.robustAccuracyMargin <= first.final.cleanAccuracy);
  const reloaded = await OnnxClassifier.fromFile(out);
  assert.equal(reloaded.numClasses, 10);
  await reloaded.release();

  // Two epochs with --resume: the first comes from the checkpoint, only the second is trained.
  const resumed = await harden(settings({ out, checkpointDir, epochs: 2, resume: true }));
  assert.equal(resumed.history.length, 2);
  assert.deepEqual(resumed.history[0], first.history[0]);
});

test("harden gaussian-augmentation trains a new --arch model on an .npz", async () => {
  const out = join(dir, "gauss.onnx");
  const result = await harden(settings({ method: "gaussian-augmentation", model: undefined, arch: "mlp", out, epochs: 6, lr: 3e-3 }));
  assert.equal(result.history.length, 6);
  assert.ok(result.history[5].loss < result.history[0].loss, "training loss falls");
  assert.ok(result.final.cleanAccuracy >= 0.6, `clean ${result.final.cleanAccuracy}`);
  assert.equal(result.settings.sigma, 0.25);
  assert.ok(existsSync(out));
});

test("harden refuses what a user can get wrong with a sentence that says what to do", async () => {
  const refused = (code: string) => (e: unknown) => e instanceof AegisError && e.code === code;
  await assert.rejects(harden(settings({ arch: "cnn" })), refused("BAD_OPTION"));
  await assert.rejects(harden(settings({ method: "mixup" as HardenSettings["method"] })), refused("BAD_OPTION"));
  await assert.rejects(harden(settings({ resume: true })), refused("BAD_OPTION"));
  await assert.rejects(harden(settings({ resume: true, checkpointDir: join(dir, "none") })), refused("FILE_NOT_FOUND"));
  await assert.rejects(harden(settings({ eps: -1 })), refused("BAD_OPTION"));
});
