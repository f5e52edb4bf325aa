/**
 * Poisoning end to end at small scale: BadNets (pattern trigger, 10%, all-to-one → 0) on
 * 2,000 MNIST digits, a CNN trained on them by the engine, then the numbers the issue asks
 * for — the backdoor works (attack success, clean accuracy; the bundled clean CNN does not
 * obey the trigger), activation clustering finds the poisoned rows and names class 0,
 * spectral signatures trims 1.5·ε of every class, STRIP separates triggered from clean
 * inputs — and the commands: `aegis poison`, then `aegis inspect-data --manifest` with its
 * reports.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { badnets, compileTrigger, loadManifest, poisonedFlags, poisonSuccess, stamp } from "../../src/attacks/index.js";
import { loadDataset, loadMnist, saveNpz } from "../../src/data/index.js";
import {
  activationClustering,
  auroc,
  type ClassVerdict,
  type DataInspectionReport,
  fitStrip,
  scoreInspection,
  spectralSignatures,
} from "../../src/defenses/index.js";
import { adam, buildArchitecture, createFeatureExtractor, OnnxClassifier, train } from "../../src/engine/index.js";
import { saveModel } from "../../src/onnx/io.js";
import { labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const ROWS = 2000;
const dir = mkdtempSync(join(tmpdir(), "aegis-poisoning-"));
const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { train: tr, test: te } = loadMnist();
const heldOut = { x: sliceRows(te.x, 0, 500), labels: labelsOf(sliceRows(te.y, 0, 500)) };
const trainFile = join(dir, "train.npz");
const poisonedFile = join(dir, "poisoned.npz");
const manifestFile = join(dir, "poison.json");
const modelFile = join(dir, "backdoored.onnx");
let model: OnnxClassifier;
let poisoned: { x: Tensor<"float32">; labels: number[] };
let truth: boolean[];
const anomalies = (c: ClassVerdict) => Object.entries(c.evidence).flatMap(([k, v]) => (k.endsWith("anomaly_index") ? [v] : []));

before(async () => {
  saveNpz(trainFile, { x: sliceRows(tr.x, 0, ROWS), y: sliceRows(tr.y, 0, ROWS) });
  const made = await aegis(["poison", "badnets", "--data", trainFile, "--out", poisonedFile, "--manifest", manifestFile, "--seed", "0"]);
  assert.equal(made.code, 0, made.stderr);
  const set = loadDataset(poisonedFile);
  poisoned = { x: set.x, labels: labelsOf(set.y as Tensor) };
  truth = poisonedFlags(loadManifest(manifestFile), ROWS);
  const arch = buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  model = await OnnxClassifier.create(arch, { trainable: true, batchSize: 64 });
  await train(model, poisoned, { epochs: 3, batchSize: 64, optimizer: adam({ lr: 1e-3 }), seed: 0 });
  saveModel(modelFile, model.exportModel());
});

test("aegis poison badnets wrote 10% poisoned rows; a CNN trained on them obeys the trigger, the bundled clean CNN does not", async () => {
  assert.equal(truth.filter(Boolean).length, ROWS / 10);
  const manifest = loadManifest(manifestFile);
  const backdoored = await poisonSuccess(model, heldOut, manifest);
  assert.ok(backdoored.attack_success_rate >= 0.9, `attack success ${backdoored.attack_success_rate}`);
  assert.ok(backdoored.clean_accuracy >= 0.85, `clean accuracy ${backdoored.clean_accuracy}`);
  const clean = await OnnxClassifier.fromFile(demo);
  const unaffected = await poisonSuccess(clean, heldOut, manifest);
  await clean.release();
  assert.ok(unaffected.attack_success_rate <= 0.05, `clean model's attack success ${unaffected.attack_success_rate}`);
});

test("activation clustering with the superimposition test ranks the poisoned rows first and flags no clean class; spectral signatures trims 1.5·ε of each class", async () => {
  const extractor = await createFeatureExtractor(model.exportModel());
  const { features } = await extractor.extract(poisoned.x);
  await extractor.release();
  const ac = await activationClustering(features, poisoned.labels, 10, { superimposition: { model, x: poisoned.x }, members: 24, overlays: 16 });
  const score = scoreInspection(ac, truth);
  const suspicious = ac.classes.filter((c) => c.suspicious).map((c) => c.class);
  assert.ok(suspicious.length <= 1 && suspicious.every((c) => c === 0), `classes flagged ${suspicious}`);
  // Every row of class 0 is tested on its own, so no poisoned row is left for a retrained model to learn from
  // (measured: all 200 at 5.2% false positives, each a clean 0 the backdoored model holds to under superimposition;
  // the flagged cluster alone, before: at most 2%; at bench/poisoning.ts's scale it left 33 poisoned rows in the other cluster).
  assert.ok(score.recall >= 0.95 && score.false_positive_rate <= 0.06, JSON.stringify(score));
  // The ranking holds at this scale even where the cut-off is not reached (bench/poisoning.ts: the scale).
  assert.ok(score.roc_auc >= 0.95, `ROC AUC ${score.roc_auc} (recall ${score.recall})`);
  const worst = ac.classes.reduce((a, b) => (Math.max(...anomalies(b)) > Math.max(...anomalies(a)) ? b : a));
  assert.equal(worst.class, 0, "the most anomalous cluster is in the target class");
  const ss = spectralSignatures(features, poisoned.labels, 10, { epsilon: 0.1 });
  for (const c of ss.classes) assert.equal(c.flagged, Math.floor(0.15 * c.rows));
});

test("STRIP separates triggered inputs from clean ones and flags a share of them at its clean threshold", async () => {
  const strip = await fitStrip(model, sliceRows(te.x, 1000, 1400), { overlays: 20, fpr: 0.05 });
  const trigger = compileTrigger(loadManifest(manifestFile).trigger ?? badnets.defaults.trigger, [1, 28, 28]);
  const rows = heldOut.labels.flatMap((y, i) => (i < 200 && y !== 0 ? [i] : []));
  const triggered = await strip.score(stamp(sliceRows(heldOut.x, 0, 200), trigger));
  const clean = await strip.score(sliceRows(heldOut.x, 200, 400));
  const tpr = rows.filter((i) => triggered[i] > strip.threshold).length / rows.length;
  const fpr = clean.filter((s) => s > strip.threshold).length / clean.length;
  const separation = auroc(
    Array.from(clean),
    rows.map((i) => triggered[i]),
  );
  assert.ok(fpr <= 0.1, `false positives ${fpr}`);
  assert.ok(tpr >= 0.3 && separation >= 0.8, `true positives ${tpr}, AUROC ${separation}`);
});

test("aegis inspect-data --manifest reports recall and false positives, writes Markdown, SARIF and JSON and the set without the flagged rows; bad input exits with its code", async () => {
  const out = join(dir, "report");
  const run = await aegis([
    "inspect-data",
    "--model",
    modelFile,
    "--data",
    poisonedFile,
    "--defence",
    "spectral-signatures",
    "--manifest",
    manifestFile,
    "--format",
    "json,md,sarif",
    "--out",
    out,
    "--clean-out",
    join(dir, "cleaned.npz"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /against the manifest: recall [\d.]+% \(\d+\/200\)/);
  const report = JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as DataInspectionReport;
  assert.equal(report.truth?.poisoned, 200);
  assert.equal(report.flagged, report.suspected.length);
  assert.ok(existsSync(join(out, "report.md")) && existsSync(join(out, "report.sarif")));
  const cleaned = loadDataset(join(dir, "cleaned.npz"));
  assert.equal(cleaned.x.shape[0], ROWS - report.flagged);
  assert.equal(cleaned.y?.shape[0], ROWS - report.flagged);
  const bad = await aegis(["inspect-data", "--model", modelFile, "--data", poisonedFile, "--defence", "no-such-defence"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.doesNotMatch(bad.stderr, /at .*\.ts:\d+/);
  const other = await aegis(["inspect-data", "--model", modelFile, "--data", trainFile, "--manifest", join(dir, "none.json")]);
  assert.notEqual(other.code, 0);
  assert.match(other.stderr, /check the path/);
});
