/**
 * Backdoor repairs at small scale, on the tiny BadNets CNN of test/helpers/backdoor.ts with
 * 1,000 clean digits the attacker never saw: Neural Cleanse unlearning removes the backdoor
 * and keeps clean accuracy within 2 points of the clean twin's (the repair target);
 * fine-pruning prunes the dormant channels of the last convolution and fine-tunes. Then `aegis repair`: before and after, the model
 * it writes, its errors. The scale is in bench/neural-cleanse.ts.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { type PoisonManifest, saveManifest } from "../../src/attacks/index.js";
import { saveNpz } from "../../src/data/index.js";
import { type RepairResult, repairBackdoor } from "../../src/defenses/index.js";
import { OnnxClassifier } from "../../src/engine/index.js";
import { countCorrect } from "../../src/engine/trainer.js";
import { saveModel } from "../../src/onnx/io.js";
import { float32 } from "../../src/tensor.js";
import { mnistRows, tinyCnn } from "../helpers/backdoor.js";
import { aegis } from "../helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-repair-"));
const defender = mnistRows("train", 2000, 3000);
const heldOut = mnistRows("test", 500, 1500);
let manifest: PoisonManifest;
let modelFile: string;
let cleanAccuracy: number;

before(async () => {
  const backdoored = await tinyCnn(true);
  manifest = backdoored.manifest;
  modelFile = join(dir, "backdoored.onnx");
  saveModel(modelFile, backdoored.model.exportModel());
  await backdoored.model.release();
  const twin = await tinyCnn(false);
  cleanAccuracy = countCorrect(await twin.model.predict(heldOut.x), heldOut.labels) / heldOut.labels.length;
  await twin.model.release();
});

async function repaired(method: "unlearning" | "fine-pruning"): Promise<RepairResult> {
  const model = await OnnxClassifier.fromFile(modelFile, { trainable: true, threads: 1 });
  try {
    return await repairBackdoor(model, defender, { method, test: heldOut, manifest, neuralCleanse: { epochInputs: 128, maxEpochs: 60 } });
  } finally {
    await model.release();
  }
}

test("Neural Cleanse unlearning removes the backdoor and keeps clean accuracy within 2 points of the unpoisoned twin", async (t) => {
  const r = await repaired("unlearning");
  t.diagnostic(
    `attack success ${r.before.attack_success_rate} → ${r.after.attack_success_rate}; clean ${r.before.clean_accuracy} → ${r.after.clean_accuracy}, twin ${cleanAccuracy}`,
  );
  assert.deepEqual(r.unlearning?.classes, [0]);
  assert.ok((r.before.attack_success_rate ?? 0) >= 0.9, `attack success before ${r.before.attack_success_rate}`);
  assert.ok((r.after.attack_success_rate ?? 1) < 0.05, `attack success after ${r.after.attack_success_rate}`);
  // Measured: 95.1% → 1.5% attack success, clean 88.1% → 91.4% (twin 88.9%). With the paper's single epoch over a fixed 20% this was 77.9% against the twin's 88.9%:
  // on the held-out PyTorch models the lost accuracy was all the target class's. A fresh 20% of every batch for 10 epochs (unlearning.ts) keeps it.
  assert.ok(r.after.clean_accuracy >= cleanAccuracy - 0.02, `clean accuracy ${r.after.clean_accuracy}, unpoisoned ${cleanAccuracy}`);
});

test("fine-pruning prunes dormant channels of the last convolution within its accuracy bound, then fine-tunes", async () => {
  const r = await repaired("fine-pruning");
  const f = r.fine_pruning;
  assert.ok(f && f.pruned.length > 0 && f.pruned.length < f.channels, `pruned ${f?.pruned.length} of ${f?.channels}`);
  assert.equal(f.layer.length > 0, true);
  assert.ok(f.validation_accuracy.before - f.validation_accuracy.pruned <= 0.04);
  assert.ok(
    (r.after.attack_success_rate ?? 1) < (r.before.attack_success_rate ?? 0),
    `attack success ${r.before.attack_success_rate} → ${r.after.attack_success_rate}`,
  );
});

test("aegis repair prints before and after, writes the repaired model, and refuses bad input with its exit code", async () => {
  const data = join(dir, "clean.npz");
  const test = join(dir, "test.npz");
  const manifestFile = join(dir, "poison.json");
  saveNpz(data, { x: defender.x, y: float32([1000], Float32Array.from(defender.labels)) });
  saveNpz(test, { x: heldOut.x, y: float32([1000], Float32Array.from(heldOut.labels)) });
  saveManifest(manifestFile, manifest);
  const out = join(dir, "repaired.onnx");
  const run = await aegis([
    "repair",
    "fine-pruning",
    "--model",
    modelFile,
    "--data",
    data,
    "--test-data",
    test,
    "--manifest",
    manifestFile,
    "--out",
    out,
    "--epochs",
    "1",
    "--threads",
    "1",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /before: clean accuracy [\d.]+%, attack success [\d.]+%\n {2}after : clean accuracy [\d.]+%, attack success [\d.]+%/);
  assert.ok(existsSync(out));
  const wrong = await aegis(["repair", "fine-pruning", "--model", modelFile, "--data", data, "--test-data", test, "--out", out, "--inspection", manifestFile]);
  assert.equal(wrong.code, 2, wrong.stderr);
  const unknown = await aegis(["repair", "relabel", "--model", modelFile, "--data", data, "--test-data", test, "--out", out]);
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.doesNotMatch(unknown.stderr, /at .*\.ts:\d+/);
});
