/**
 * The poisoning issue's held-out check: backdoored models and a poisoned dataset that no
 * part of Aegis built (fixtures/backdoor, from scripts/make_backdoor_fixtures.py: PyTorch CNNs
 * with a top-left 3×3 checkerboard → 7, a blended noise image → 3, an all-to-all bar, and a
 * clean twin). Aegis is run with its defaults, nothing tuned to these triggers:
 * - the manifests' attack success rate, reproduced from the ONNX files;
 * - Neural Cleanse (1,000 clean test digits, the authors' budget): the class it names, its
 *   anomaly index, and the share of the reversed mask on the true trigger;
 * - STRIP (100 overlays, threshold at 5% false rejections on 400 clean test digits): TPR on
 *   triggered test digits, FPR on clean ones;
 * - activation clustering and spectral signatures on the poisoned training rows, with the
 *   model trained on them;
 * - the repairs with the defender's 800 clean training rows (10% of the training set, as
 *   Wang et al.), against the clean twin's accuracy;
 * - retraining the checkerboard model's architecture from scratch on its poisoned slice
 *   without the rows activation clustering flagged, against the same training on the slice
 *   with every row and without the truly poisoned rows.
 * `node --import tsx bench/backdoor-held-out.ts` runs it alone.
 */
import { readFileSync } from "node:fs";
import { compileTrigger, loadManifest, maskOverlap, type PoisonManifest, poisonedFlags, poisonSuccess, stamp } from "../src/attacks/index.js";
import { loadDataset, loadMnist } from "../src/data/index.js";
import {
  activationClustering,
  type DataInspection,
  fitStrip,
  neuralCleanse,
  type RepairMethod,
  repairBackdoor,
  retrainWithout,
  scoreInspection,
  spectralSignatures,
} from "../src/defenses/index.js";
import { createFeatureExtractor, OnnxClassifier } from "../src/engine/index.js";
import { loadModel } from "../src/onnx/io.js";
import { labelsOf, sliceRows, type Tensor } from "../src/tensor.js";

const FIXTURES = new URL("../fixtures/backdoor/", import.meta.url).pathname;
const pct = (v: number | undefined) => (v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
type Labelled = { x: Tensor<"float32">; labels: number[] };

export interface HeldOutScale {
  /** Clean test digits Neural Cleanse reverses triggers on, and its epoch budget. */
  inspected: number;
  maxEpochs: number;
  epochInputs: number;
  /** Test digits STRIP scores, triggered and clean. */
  stripInputs: number;
  /** Defender's clean training rows for the repairs. */
  defender: number;
}

export const FULL_SCALE: HeldOutScale = { inspected: 1000, maxEpochs: 100, epochInputs: 1000, stripInputs: 300, defender: 800 };

export const heldOutModel = (name: string, trainable = false) =>
  OnnxClassifier.create(loadModel(`${FIXTURES}${name}.onnx`), { trainable, batchSize: 64, threads: 1 });
export const heldOutManifest = (name: string): PoisonManifest => loadManifest(`${FIXTURES}${name}.json`);
export const heldOutSummary = () => JSON.parse(readFileSync(`${FIXTURES}summary.json`, "utf8"));

/** torch_checker's first poisoned training rows, their labels as trained, and the manifest. */
export function heldOutSlice(): Labelled & { manifest: PoisonManifest; truth: boolean[] } {
  const { x, y } = loadDataset(`${FIXTURES}torch_checker_slice.npz`);
  const manifest = heldOutManifest("torch_checker_slice");
  if (!y) throw new Error("torch_checker_slice.npz has no labels");
  return { x, labels: labelsOf(y), manifest, truth: poisonedFlags(manifest, x.shape[0]) };
}

/** STRIP's TPR on triggered non-target digits and FPR on the same digits clean, at 5% false rejections on `calibration`. */
export async function stripRates(model: OnnxClassifier, manifest: PoisonManifest, inputs: Labelled, calibration: Tensor<"float32">) {
  const strip = await fitStrip(model, calibration, { fpr: 0.05 });
  const trigger = compileTrigger(manifest.trigger ?? { kind: "pixel", distance: 2, value: 1 }, [1, 28, 28]);
  const goal = manifest.goal;
  const attacked = inputs.labels.flatMap((y, i) => (goal.kind === "backdoor" && (goal.mode === "all-to-all" || y !== goal.target) ? [i] : []));
  const triggered = await strip.score(stamp(inputs.x, trigger));
  const clean = await strip.score(inputs.x);
  return {
    tpr: attacked.filter((i) => triggered[i] > strip.threshold).length / attacked.length,
    fpr: clean.filter((s) => s > strip.threshold).length / clean.length,
  };
}

/** Epochs of training from scratch on the 1,000-row slice (twice `aegis repair retrain`'s 5: a tenth of the data). */
export const SLICE_RETRAIN_EPOCHS = 10;

/**
 * The retraining repair on the held-out slice: `model`'s architecture trained afresh on the
 * slice with every row (the backdoor relearned), without the rows the inspection flagged, and
 * without the manifest's poisoned rows (what a perfect inspection would leave), measured on `test`.
 */
export async function sliceRetrain(model: OnnxClassifier, inspection: DataInspection, test: Labelled) {
  const slice = heldOutSlice();
  const run = async (flagged: readonly boolean[]) => {
    const out = await retrainWithout(model, slice, flagged, { epochs: SLICE_RETRAIN_EPOCHS, test, manifest: slice.manifest });
    await out.model.release();
    return out.result;
  };
  return {
    everyRow: await run(slice.truth.map(() => false)),
    withoutFlagged: await run(inspection.flagged),
    withoutPoisoned: await run(slice.truth),
  };
}

export async function benchBackdoorHeldOut(log: (line: string) => void = () => {}, scale: HeldOutScale = FULL_SCALE): Promise<string[]> {
  const { train: tr, test: te } = loadMnist();
  const test = { x: te.x, labels: labelsOf(te.y) };
  const heldOut = { x: sliceRows(te.x, 1000, 2000), labels: test.labels.slice(1000) };
  const stripInputs = { x: sliceRows(te.x, 0, scale.stripInputs), labels: test.labels.slice(0, scale.stripInputs) };
  const defender = { x: sliceRows(tr.x, 0, scale.defender), labels: labelsOf(tr.y).slice(0, scale.defender) };
  const inspected = sliceRows(te.x, 0, scale.inspected);
  const summary = heldOutSummary();
  const lines = [
    `Held-out backdoors (fixtures/backdoor: PyTorch CNNs, 10% BadNets-style poisoning of 8,000 digits); Neural Cleanse on ${scale.inspected} clean test digits, ≤ ${scale.maxEpochs} epochs of ${scale.epochInputs}; STRIP on ${scale.stripInputs}; repairs with ${scale.defender} clean training rows, measured on test digits 1000–1999`,
  ];
  const clean = await heldOutModel("torch_clean");
  const cleanAccuracy = (await poisonSuccess(clean, heldOut, heldOutManifest("torch_checker"))).clean_accuracy;
  const nc = { maxEpochs: scale.maxEpochs, epochInputs: scale.epochInputs };
  log("Neural Cleanse on torch_clean");
  const cleanNc = await neuralCleanse(clean, inspected, nc);
  const largest = cleanNc.triggers.reduce((a, b) => (b.anomaly_index > a.anomaly_index ? b : a));
  lines.push(
    `  torch_clean: clean accuracy ${pct(cleanAccuracy)} (PyTorch, all 2,000: ${pct(summary.models.torch_clean.clean_accuracy)}); Neural Cleanse flags ${cleanNc.flagged.length ? `class ${cleanNc.flagged.join(", ")}` : "no class"} (largest index ${largest.anomaly_index.toFixed(2)}, class ${largest.class}; ‖m‖₁ ${cleanNc.triggers.map((t) => t.l1.toFixed(1)).join(" ")})`,
  );
  const stripCleanModel = await stripRates(clean, heldOutManifest("torch_checker"), stripInputs, sliceRows(te.x, 1000, 1400));
  lines.push(`    STRIP on the clean model with the checkerboard stamped: ${pct(stripCleanModel.tpr)} flagged (FPR ${pct(stripCleanModel.fpr)})`);
  await clean.release();

  for (const name of ["torch_checker", "torch_blend", "torch_alltoall"]) {
    const manifest = heldOutManifest(name);
    const goal = manifest.goal;
    if (goal.kind !== "backdoor") continue;
    const model = await heldOutModel(name);
    const success = await poisonSuccess(model, test, manifest);
    const truth = compileTrigger(manifest.trigger ?? { kind: "pixel", distance: 2, value: 1 }, [1, 28, 28]);
    lines.push(
      `  ${name} (${goal.mode}${goal.mode === "all-to-one" ? ` → ${goal.target}` : ""}): attack success ${pct(success.attack_success_rate)} (PyTorch ${pct(summary.models[name].attack_success_rate)}), clean accuracy ${pct(success.clean_accuracy)}`,
    );
    log(`Neural Cleanse on ${name}`);
    const r = await neuralCleanse(model, inspected, nc);
    const top = r.triggers.reduce((a, b) => (b.anomaly_index > a.anomaly_index ? b : a));
    const onTarget = goal.mode === "all-to-one" ? r.triggers[goal.target] : undefined;
    lines.push(
      `    Neural Cleanse flags ${r.flagged.length ? `class ${r.flagged.join(", ")}` : "no class"} (largest index ${top.anomaly_index.toFixed(2)}, class ${top.class}${onTarget ? `; target's ‖m‖₁ ${onTarget.l1.toFixed(1)}, its mask's share on the true trigger ${pct(maskOverlap(onTarget.mask, truth, 28))}` : ""}; ‖m‖₁ ${r.triggers.map((t) => t.l1.toFixed(1)).join(" ")})`,
    );
    const strip = await stripRates(model, manifest, stripInputs, sliceRows(te.x, 1000, 1400));
    lines.push(`    STRIP: TPR ${pct(strip.tpr)} at FPR ${pct(strip.fpr)} (target ≥ 90% at ≤ 5%)`);
    await model.release();
    if (goal.mode !== "all-to-one") continue;
    const weights = model.exportModel();
    const reversed = r.triggers.filter((t) => t.flagged);
    const methods: RepairMethod[] = reversed.length > 0 ? ["fine-pruning", "unlearning"] : ["fine-pruning"];
    for (const method of methods) {
      log(`repair ${name}: ${method}`);
      const repaired = await OnnxClassifier.create(weights, { trainable: true, batchSize: 64, threads: 1 });
      const layout = truth.layout;
      const out = await repairBackdoor(repaired, defender, {
        method,
        test: heldOut,
        manifest,
        triggers: reversed.map((t) => ({ class: t.class, trigger: { layout, mask: t.mask, pattern: t.pattern } })),
      });
      await repaired.release();
      const detail = out.fine_pruning ? ` (pruned ${out.fine_pruning.pruned.length} of ${out.fine_pruning.channels} channels)` : "";
      lines.push(
        `    ${method}${detail}: attack success ${pct(out.before.attack_success_rate)} → ${pct(out.after.attack_success_rate)}, clean accuracy ${pct(out.before.clean_accuracy)} → ${pct(out.after.clean_accuracy)} (${((cleanAccuracy - out.after.clean_accuracy) * 100).toFixed(1)} points under torch_clean; target < 5%, within 2)`,
      );
    }
    if (reversed.length === 0) lines.push("    unlearning: not run — Neural Cleanse flagged no class");
  }

  const slice = heldOutSlice();
  const model = await heldOutModel("torch_checker");
  const extractor = await createFeatureExtractor(model.exportModel());
  const { features } = await extractor.extract(slice.x);
  await extractor.release();
  lines.push(
    `  inspect-data on torch_checker's first ${slice.x.shape[0]} poisoned training rows (${slice.manifest.poisoned.length} poisoned), its own model's activations:`,
  );
  const inspections = [
    ["activation clustering (superimposition)", await activationClustering(features, slice.labels, 10, { superimposition: { model, x: slice.x } })],
    ["activation clustering (size, the paper's)", await activationClustering(features, slice.labels, 10, { analysis: "size" })],
    ["spectral signatures (ε = 0.1)", spectralSignatures(features, slice.labels, 10)],
  ] as const;
  for (const [name, inspection] of inspections) {
    const s = scoreInspection(inspection, slice.truth);
    lines.push(`    ${name}: recall ${pct(s.recall)} at ${pct(s.false_positive_rate)} false positives, ROC AUC ${s.roc_auc.toFixed(3)} (target ≥ 90% at ≤ 5%)`);
  }
  log("retraining on the slice");
  const retrained = await sliceRetrain(model, inspections[0][1], heldOut);
  const describe = (r: typeof retrained.everyRow) =>
    `attack success ${pct(r.after.attack_success_rate)}, clean accuracy ${pct(r.after.clean_accuracy)} (${r.retrain.removed} rows removed, ${r.retrain.poisoned_left} poisoned left)`;
  lines.push(
    `  retrained from scratch on the slice, ${SLICE_RETRAIN_EPOCHS} epochs, measured on test digits 1000–1999 (torch_checker itself: attack success ${pct(retrained.everyRow.before.attack_success_rate)}):`,
    `    every row: ${describe(retrained.everyRow)}`,
    `    without activation clustering's flagged rows: ${describe(retrained.withoutFlagged)} (target < 5%, within 2 points of the next line)`,
    `    without the truly poisoned rows: ${describe(retrained.withoutPoisoned)}`,
  );
  await model.release();
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const quick = process.argv.includes("--quick");
  const scale = quick ? { ...FULL_SCALE, inspected: 200, maxEpochs: 30, epochInputs: 200 } : FULL_SCALE;
  for (const line of await benchBackdoorHeldOut((l) => console.error(l), scale)) console.log(line);
}
