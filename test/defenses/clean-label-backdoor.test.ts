/**
 * The clean-label backdoor (Turner et al. 2019) at small scale: 2,000 training digits, 8%
 * of them (160 of class 0's ~200) perturbed against the bundled PGD-trained CNN (ε = 16/255,
 * the paper's) and stamped with the paper's checkerboard, labels untouched; the small
 * fixture CNN trained 20 epochs on them and on the clean digits. The poisoned model obeys
 * the trigger many times more often than its clean twin (measured: 8.6% against 0.2% on 902
 * triggered test digits) — far from BadNets' 100%: a label-consistent backdoor is weak at
 * this scale — and every poisoned row still carries its true label.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import { cleanLabel, type PoisonResult, type PoisonSuccess, poisonSuccess } from "../../src/attacks/index.js";
import { createRng } from "../../src/data/index.js";
import { OnnxClassifier } from "../../src/engine/index.js";
import { mnistRows, trainTiny } from "../helpers/backdoor.js";

const clean = mnistRows("train", 0, 2000);
const testSet = mnistRows("test", 0, 1000);
let poisoned: PoisonResult;
let attacked: PoisonSuccess;
let twin: PoisonSuccess;

before(async () => {
  const proxy = await OnnxClassifier.fromFile(new URL("../../models/mnist-cnn-pgd-at.onnx", import.meta.url).pathname, { threads: 1 });
  poisoned = await cleanLabel.poison(
    { ...clean, numClasses: 10, source: "mnist" },
    { ...cleanLabel.defaults, fraction: 0.08 },
    { rng: createRng(0), model: proxy },
  );
  await proxy.release();
  for (const [data, set] of [
    [poisoned, (r: PoisonSuccess) => (attacked = r)],
    [clean, (r: PoisonSuccess) => (twin = r)],
  ] as const) {
    const model = await trainTiny(data, 20);
    set(await poisonSuccess(model, testSet, poisoned.manifest));
    await model.release();
  }
});

test("every poisoned row keeps its true label, and the rows are the target class's", () => {
  const m = poisoned.manifest;
  assert.equal(m.poisoned.length, 160);
  for (const r of m.poisoned) {
    assert.equal(poisoned.labels[r], clean.labels[r]);
    assert.equal(clean.labels[r], 0);
  }
  assert.deepEqual(poisoned.labels, clean.labels);
});

test("a model trained on the clean-label poison obeys the trigger far more often than its clean twin", () => {
  const [rate, chance] = [attacked.attack_success_rate, twin.attack_success_rate];
  assert.ok(rate >= 0.05 && rate >= 10 * chance, `attack success ${rate} against the clean twin's ${chance}`);
  assert.ok(attacked.clean_accuracy >= twin.clean_accuracy - 0.03, `clean accuracy ${attacked.clean_accuracy} against ${twin.clean_accuracy}`);
});
