/**
 * The poisoning issue's targets on the built-in MNIST (8,000 train / 2,000 test): BadNets
 * (pattern trigger, all-to-one, 10% of the rows) against the engine's CNN — attack success
 * rate and clean-accuracy loss next to a model trained on the clean set — then the data
 * inspections on the poisoned set with the backdoored model (activation clustering, both
 * rules, and spectral signatures: recall at their false-positive rate), and STRIP's
 * true-positive rate on triggered test inputs at its threshold on clean ones; last, the
 * repair those inspections lead to: the CNN retrained from scratch without the rows
 * activation clustering flagged, against the model trained on the clean set.
 * `node --import tsx bench/poisoning.ts` runs it alone.
 */
import { badnets, compileTrigger, poisonSuccess, stamp } from "../src/attacks/index.js";
import { createRng, loadMnist } from "../src/data/index.js";
import { activationClustering, fitStrip, retrainWithout, scoreInspection, spectralSignatures } from "../src/defenses/index.js";
import { adam, buildArchitecture, createFeatureExtractor, OnnxClassifier, train } from "../src/engine/index.js";
import { labelsOf, sliceRows } from "../src/tensor.js";

const EPOCHS = 3;
/** Test inputs STRIP scores, triggered and clean (100 overlays each: 60,000 predictions). */
const STRIP_INPUTS = 300;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

async function trained(x: Parameters<typeof train>[1]["x"], labels: number[]): Promise<OnnxClassifier> {
  const model = buildArchitecture("cnn", { inputShape: x.shape.slice(1), numClasses: 10, seed: 0 });
  const clf = await OnnxClassifier.create(model, { trainable: true, batchSize: 64 });
  await train(clf, { x, labels }, { epochs: EPOCHS, batchSize: 64, optimizer: adam({ lr: 1e-3 }), seed: 0 });
  return clf;
}

export async function benchPoisoning(): Promise<string[]> {
  const { train: tr, test: te } = loadMnist();
  const labels = labelsOf(tr.y);
  const testLabels = labelsOf(te.y);
  const poisoned = await badnets.poison({ x: tr.x, labels, numClasses: 10, source: "mnist" }, badnets.defaults, { rng: createRng(0) });
  const clean = await trained(tr.x, labels);
  const backdoored = await trained(poisoned.x, poisoned.labels);
  const test = { x: te.x, labels: testLabels };
  const before = await poisonSuccess(clean, test, poisoned.manifest);
  const after = await poisonSuccess(backdoored, test, poisoned.manifest);
  const lines = [
    `poisoning — BadNets (pattern, all-to-one → 0, 10% of ${labels.length} rows), CNN ${EPOCHS} epochs, ${testLabels.length} test inputs`,
    `  clean model:      clean accuracy ${pct(before.clean_accuracy)}, attack success ${pct(before.attack_success_rate)}`,
    `  backdoored model: clean accuracy ${pct(after.clean_accuracy)}, attack success ${pct(after.attack_success_rate)} (target ≥ 95%, ≤ 1 point lost)`,
  ];
  const truth = new Array<boolean>(labels.length).fill(false);
  for (const r of poisoned.manifest.poisoned) truth[r] = true;
  const extractor = await createFeatureExtractor(backdoored.exportModel());
  const { features } = await extractor.extract(poisoned.x);
  await extractor.release();
  const inspections = [
    [
      "activation clustering (superimposition)",
      await activationClustering(features, poisoned.labels, 10, { superimposition: { model: backdoored, x: poisoned.x } }),
    ],
    ["activation clustering (size, the paper's)", await activationClustering(features, poisoned.labels, 10, { analysis: "size" })],
    ["spectral signatures (ε = 0.1)", spectralSignatures(features, poisoned.labels, 10)],
  ] as const;
  for (const [name, inspection] of inspections) {
    const s = scoreInspection(inspection, truth);
    lines.push(`  ${name}: recall ${pct(s.recall)} at ${pct(s.false_positive_rate)} false positives, ROC AUC ${s.roc_auc.toFixed(3)} (target ≥ 90% at ≤ 5%)`);
  }
  const { model: retrained, result } = await retrainWithout(backdoored, poisoned, inspections[0][1].flagged, {
    epochs: EPOCHS,
    test,
    manifest: poisoned.manifest,
  });
  await retrained.release();
  const r = result.retrain;
  lines.push(
    `  retrained from scratch without the ${r.removed} rows activation clustering flagged (${r.poisoned_left} poisoned rows left in): attack success ${pct(result.before.attack_success_rate ?? 0)} → ${pct(result.after.attack_success_rate ?? 0)}, clean accuracy ${pct(result.after.clean_accuracy)} against the clean model's ${pct(before.clean_accuracy)} (target < 5%, within 2 points)`,
  );
  const strip = await fitStrip(backdoored, sliceRows(te.x, 1000, 1400), { fpr: 0.05 });
  const trigger = compileTrigger(poisoned.manifest.trigger ?? badnets.defaults.trigger, [1, 28, 28]);
  const nonTarget = testLabels.flatMap((y, i) => (i < STRIP_INPUTS && y !== 0 ? [i] : []));
  const triggered = await strip.score(stamp(sliceRows(te.x, 0, STRIP_INPUTS), trigger));
  const cleanScores = await strip.score(sliceRows(te.x, 0, STRIP_INPUTS));
  const tpr = nonTarget.filter((i) => triggered[i] > strip.threshold).length / nonTarget.length;
  const fpr = cleanScores.filter((s) => s > strip.threshold).length / cleanScores.length;
  lines.push(`  STRIP (100 overlays, threshold at 5% on 300 other clean inputs): TPR ${pct(tpr)} at FPR ${pct(fpr)} (target ≥ 90% at ≤ 5%)`);
  await clean.release();
  await backdoored.release();
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchPoisoning()) console.log(line);
