/**
 * The issue's model-inspection and repair targets on the built-in MNIST: the engine's CNN
 * backdoored by BadNets (pattern trigger, all-to-one → 0, 10% of 8,000 rows, 3 epochs) and
 * its clean twin, then Neural Cleanse (the authors' defaults, 1,000 clean test inputs) on
 * the backdoored model, the clean twin, the bundled clean CNN and the bundled PGD-trained
 * CNN: which class each names, its anomaly index, and where the reversed trigger lies
 * against the true one. Then the repairs with the defender's 800 clean training rows —
 * fine-pruning and Neural Cleanse unlearning with the reversed trigger — clean accuracy and
 * attack success on 1,000 other test inputs before and after, against the clean twin.
 * `node --import tsx bench/neural-cleanse.ts` runs it alone.
 */
import { badnets, compileTrigger, imageOf, maskOverlap, poisonSuccess } from "../src/attacks/index.js";
import { createRng, loadMnist } from "../src/data/index.js";
import { neuralCleanse, type RepairMethod, repairBackdoor } from "../src/defenses/index.js";
import { adam, buildArchitecture, OnnxClassifier, train } from "../src/engine/index.js";
import { labelsOf, sliceRows, type Tensor } from "../src/tensor.js";

const EPOCHS = 3;
const pct = (v: number | undefined) => (v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);

async function trained(x: Tensor<"float32">, labels: number[]): Promise<OnnxClassifier> {
  const model = buildArchitecture("cnn", { inputShape: x.shape.slice(1), numClasses: 10, seed: 0 });
  const clf = await OnnxClassifier.create(model, { trainable: true, batchSize: 64, threads: 1 });
  await train(clf, { x, labels }, { epochs: EPOCHS, batchSize: 64, optimizer: adam({ lr: 1e-3 }), seed: 0 });
  return clf;
}

export async function benchNeuralCleanse(log: (line: string) => void = () => {}): Promise<string[]> {
  const { train: tr, test: te } = loadMnist();
  const labels = labelsOf(tr.y);
  const poisoned = await badnets.poison({ x: tr.x, labels, numClasses: 10, source: "mnist" }, badnets.defaults, { rng: createRng(0) });
  const truth = compileTrigger(poisoned.manifest.trigger ?? badnets.defaults.trigger, [1, 28, 28]);
  log("training the clean and the backdoored CNN");
  const clean = await trained(tr.x, labels);
  const backdoored = await trained(poisoned.x, poisoned.labels);
  const inspected = sliceRows(te.x, 0, 1000);
  const heldOut = { x: sliceRows(te.x, 1000, 2000), labels: labelsOf(sliceRows(te.y, 1000, 2000)) };
  const defender = { x: sliceRows(tr.x, 0, 800), labels: labels.slice(0, 800) };
  const lines = [`Neural Cleanse — 1,000 clean test inputs, the authors' defaults (≤ 100 epochs of 1,000 inputs per class); BadNets pattern → class 0`];
  const models: [string, OnnxClassifier][] = [
    ["backdoored CNN", backdoored],
    ["its clean twin", clean],
    ["bundled clean CNN", await OnnxClassifier.fromFile(new URL("../models/mnist-cnn.onnx", import.meta.url).pathname, { threads: 1 })],
    ["bundled PGD-trained CNN", await OnnxClassifier.fromFile(new URL("../models/mnist-cnn-pgd-at.onnx", import.meta.url).pathname, { threads: 1 })],
  ];
  let reversed: { class: number; mask: Float32Array; pattern: Float32Array }[] = [];
  for (const [name, model] of models) {
    log(`Neural Cleanse on the ${name}`);
    const r = await neuralCleanse(model, inspected);
    const top = r.triggers.reduce((a, b) => (b.anomaly_index > a.anomaly_index ? b : a));
    const norms = r.triggers.map((t) => t.l1.toFixed(1)).join(" ");
    const overlap = name === "backdoored CNN" ? `, its mask's share on the true trigger ${pct(maskOverlap(top.mask, truth, 28))}` : "";
    lines.push(
      `  ${name}: flags ${r.flagged.length ? `class ${r.flagged.join(", ")}` : "no class"}; largest anomaly index ${top.anomaly_index.toFixed(2)} (class ${top.class}, ‖m‖₁ ${top.l1.toFixed(1)}; cut-off ${r.params.anomalyThreshold.toFixed(2)})${overlap}; ‖m‖₁ by class ${norms}`,
    );
    if (model === backdoored) reversed = r.triggers.filter((t) => t.flagged);
  }
  for (const [, model] of models.slice(2)) await model.release();

  const reference = await poisonSuccess(clean, heldOut, poisoned.manifest);
  lines.push(`Repairs — defender's 800 clean training rows; 1,000 other test inputs; the clean twin: clean accuracy ${pct(reference.clean_accuracy)}`);
  const weights = backdoored.exportModel();
  const methods: RepairMethod[] = reversed.length > 0 ? ["fine-pruning", "unlearning"] : ["fine-pruning"];
  for (const method of methods) {
    log(`repair: ${method}`);
    const model = await OnnxClassifier.create(weights, { trainable: true, threads: 1 });
    const layout = imageOf([1, 28, 28]);
    const r = await repairBackdoor(model, defender, {
      method,
      test: heldOut,
      manifest: poisoned.manifest,
      triggers: reversed.map((t) => ({ class: t.class, trigger: { layout, mask: t.mask, pattern: t.pattern } })),
    });
    await model.release();
    const lost = (reference.clean_accuracy - r.after.clean_accuracy) * 100;
    const detail = r.fine_pruning ? ` (pruned ${r.fine_pruning.pruned.length} of ${r.fine_pruning.channels} channels)` : "";
    lines.push(
      `  ${method}${detail}: clean accuracy ${pct(r.before.clean_accuracy)} → ${pct(r.after.clean_accuracy)} (${lost.toFixed(1)} points under the clean twin), attack success ${pct(r.before.attack_success_rate)} → ${pct(r.after.attack_success_rate)} (target < 5%, within 2 points)`,
    );
  }
  if (reversed.length === 0) lines.push("  unlearning: not run — Neural Cleanse flagged no class of the backdoored CNN");
  await clean.release();
  await backdoored.release();
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchNeuralCleanse((l) => console.error(l))) console.log(line);
