/**
 * The held-out check at small scale: backdoored CNNs that PyTorch trained on data poisoned
 * outside Aegis (scripts/make_backdoor_fixtures.py; only the ONNX files, manifests and a
 * poisoned slice are committed, so no Python is needed) with triggers Aegis does not use —
 * a top-left 3×3 checkerboard → 7, a blended noise image → 3 — and a clean twin. Aegis's
 * defences run with their defaults, on fewer inputs than bench/backdoor-held-out.ts: Neural
 * Cleanse, STRIP, the data inspections, and unlearning the trigger Neural Cleanse reversed
 * (retraining without the flagged rows: backdoor-retrain.test.ts).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { heldOutManifest, heldOutModel, heldOutSlice, heldOutSummary, stripRates } from "../../bench/backdoor-held-out.js";
import { compileTrigger, maskOverlap, poisonSuccess } from "../../src/attacks/index.js";
import {
  activationClustering,
  type NeuralCleanseResult,
  neuralCleanse,
  scoreInspection,
  spectralSignatures,
  unlearnTriggers,
} from "../../src/defenses/index.js";
import { createFeatureExtractor, type OnnxClassifier } from "../../src/engine/index.js";
import { sliceRows } from "../../src/tensor.js";
import { mnistRows } from "../helpers/backdoor.js";

const test2000 = mnistRows("test", 0, 2000);
const inspected = mnistRows("test", 0, 128).x;
const cleanseOptions = { epochInputs: 128, maxEpochs: 30 };
let checker: OnnxClassifier;
let reversedCheckerboard: NeuralCleanseResult["triggers"][number] | undefined;
let clean: OnnxClassifier;

before(async () => {
  checker = await heldOutModel("torch_checker");
  clean = await heldOutModel("torch_clean");
});

after(async () => {
  await checker.release();
  await clean.release();
});

test("Aegis reads the PyTorch models as PyTorch left them: the same attack success and clean accuracy from the manifests", async () => {
  const summary = heldOutSummary();
  for (const name of ["torch_checker", "torch_blend", "torch_alltoall"]) {
    const model = name === "torch_checker" ? checker : await heldOutModel(name);
    const s = await poisonSuccess(model, test2000, heldOutManifest(name));
    // Same test digits, same trigger: only float rounding may differ.
    assert.ok(Math.abs(s.attack_success_rate - summary.models[name].attack_success_rate) < 0.003, `${name}: ${s.attack_success_rate}`);
    assert.ok(Math.abs(s.clean_accuracy - summary.models[name].clean_accuracy) < 0.003, `${name}: ${s.clean_accuracy}`);
    if (model !== checker) await model.release();
  }
  // The backdoors work (PyTorch measured 99.8% and 99.6%; all-to-all 81%), and the clean twin ignores the triggers.
  assert.ok(summary.models.torch_checker.attack_success_rate > 0.95 && summary.models.torch_blend.attack_success_rate > 0.95);
  assert.ok(summary.models.torch_checker.clean_model_attack_success_rate < 0.05);
});

test("Neural Cleanse names class 7 of the checkerboard model with its reversed trigger on the checkerboard, and no class of the clean twin", async () => {
  const r = await neuralCleanse(checker, inspected, cleanseOptions);
  reversedCheckerboard = r.triggers[7];
  assert.deepEqual(r.flagged, [7], `anomaly indices ${r.triggers.map((t) => t.anomaly_index.toFixed(2)).join(" ")}`);
  // Measured: 7.16 in the bench, 1,000 inputs and 100 epochs (cut-off 3.84).
  assert.ok(r.triggers[7].anomaly_index > r.params.anomalyThreshold + 1, `index ${r.triggers[7].anomaly_index}`);
  const truth = compileTrigger(heldOutManifest("torch_checker").trigger ?? { kind: "pixel", distance: 2, value: 1 }, [1, 28, 28]);
  const overlap = maskOverlap(r.triggers[7].mask, truth, 28);
  assert.ok(overlap >= 0.8, `share of the reversed mask on the true checkerboard ${overlap}`);
  const twin = await neuralCleanse(clean, inspected, cleanseOptions);
  assert.deepEqual(twin.flagged, [], `anomaly indices ${twin.triggers.map((t) => t.anomaly_index.toFixed(2)).join(" ")}`);
});

test("STRIP flags at least 90% of triggered digits at its 5% false-rejection threshold: the checkerboard, and the blend held out; not the all-to-all bar", async () => {
  const inputs = mnistRows("test", 0, 150);
  const calibration = sliceRows(test2000.x, 1000, 1400);
  // Measured on 300 inputs (bench): checkerboard 100% at 3.3% false positives, blend 100% at 4.3%
  // (the saturating superimposition was chosen on the checkerboard; an unsaturated sum: 93.5%, 86.6%).
  const checkerboard = await stripRates(checker, heldOutManifest("torch_checker"), inputs, calibration);
  assert.ok(checkerboard.tpr >= 0.9, `checkerboard TPR ${checkerboard.tpr}`);
  assert.ok(checkerboard.fpr <= 0.08, `checkerboard FPR ${checkerboard.fpr} on 150 clean digits`);
  const blendModel = await heldOutModel("torch_blend");
  const blend = await stripRates(blendModel, heldOutManifest("torch_blend"), inputs, calibration);
  await blendModel.release();
  assert.ok(blend.tpr >= 0.9, `blend TPR ${blend.tpr}`);
  assert.ok(blend.fpr <= 0.08, `blend FPR ${blend.fpr} on 150 clean digits`);
  // All-to-all has no target whose trigger dominates: a superimposed input takes the overlay's class + 1,
  // as uncertain as a clean input (measured 1.3%). STRIP assumes one target; this documents the limit.
  const allToAllModel = await heldOutModel("torch_alltoall");
  const allToAll = await stripRates(allToAllModel, heldOutManifest("torch_alltoall"), inputs, calibration);
  await allToAllModel.release();
  assert.ok(allToAll.tpr < 0.2, `all-to-all TPR ${allToAll.tpr}`);
});

test("activation clustering finds the poisoned rows of the PyTorch-poisoned slice; spectral signatures do not", async () => {
  const slice = heldOutSlice();
  assert.equal(slice.manifest.poisoned.length, 82);
  const extractor = await createFeatureExtractor(checker.exportModel());
  const { features } = await extractor.extract(slice.x);
  await extractor.release();
  const clustering = scoreInspection(await activationClustering(features, slice.labels, 10, { superimposition: { model: checker, x: slice.x } }), slice.truth);
  // Measured: all 82 poisoned rows at 0.2% false positives (the flagged cluster alone, without testing each row of its class: 92.7% at 0.0%).
  assert.ok(clustering.recall >= 0.95 && clustering.false_positive_rate <= 0.02, JSON.stringify(clustering));
  // Spectral signatures' top direction points at a minority, and the poison is half of class 7 (measured 34% at 12.7%).
  const spectral = scoreInspection(spectralSignatures(features, slice.labels, 10), slice.truth);
  assert.ok(spectral.recall < 0.6, JSON.stringify(spectral));
});

test("unlearning the reversed checkerboard meets the issue's repair target: attack success under 5%, clean accuracy within 2 points of the clean twin", async () => {
  assert.ok(reversedCheckerboard, "Neural Cleanse ran first");
  const manifest = heldOutManifest("torch_checker");
  const heldOut = mnistRows("test", 1000, 2000);
  const twin = await poisonSuccess(clean, heldOut, manifest);
  const model = await heldOutModel("torch_checker", true);
  try {
    const layout = compileTrigger(manifest.trigger ?? { kind: "pixel", distance: 2, value: 1 }, [1, 28, 28]).layout;
    await unlearnTriggers(model, mnistRows("train", 0, 800), [{ layout, mask: reversedCheckerboard.mask, pattern: reversedCheckerboard.pattern }]);
    const after = await poisonSuccess(model, heldOut, manifest);
    // Measured (bench): 99.8% → 3.5% at 95.4% clean accuracy, the twin 96.0%.
    assert.ok(after.attack_success_rate < 0.05, `attack success ${after.attack_success_rate}`);
    assert.ok(after.clean_accuracy >= twin.clean_accuracy - 0.02, `clean accuracy ${after.clean_accuracy}, twin ${twin.clean_accuracy}`);
  } finally {
    await model.release();
  }
});
