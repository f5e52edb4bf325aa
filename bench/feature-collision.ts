/**
 * Feature collision (Shafahi et al. 2018) the paper's way, on the built-in MNIST (8,000
 * train / 2,000 test) and the bundled CNN: for the first 10 test 4s, poisons crafted from
 * random training 9s (`--count`, with and without the 30% watermark), then the CNN's last
 * layer retrained (10 epochs) on its frozen features with the poisoned set; success is the
 * target classified as 9. The control retrains on the clean set; both report accuracy on
 * test digits 1000–1999.
 * `node --import tsx bench/feature-collision.ts` runs it alone.
 */
import { featureCollision, poisonSuccess, retrainLastLayer } from "../src/attacks/index.js";
import { createRng, loadMnist } from "../src/data/index.js";
import { OnnxClassifier } from "../src/engine/index.js";
import { gatherRows, labelsOf, sliceRows } from "../src/tensor.js";

const TARGET_CLASS = 4;
const BASE_CLASS = 9;
/** Targets (the first test 4s); BENCH_FEATURE_COLLISION_TARGETS=1 for a quick run. */
const TARGETS = Number(process.env.BENCH_FEATURE_COLLISION_TARGETS ?? 10);
/** Epochs of the retrained last layer: 1,250 steps on 8,000 rows. */
const EPOCHS = 10;
const SETTINGS = [
  { count: 1, watermark: 0 },
  { count: 5, watermark: 0 },
  { count: 20, watermark: 0 },
  { count: 5, watermark: 0.3 },
  { count: 20, watermark: 0.3 },
];
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

export async function benchFeatureCollision(log: (line: string) => void = () => {}): Promise<string[]> {
  const model = await OnnxClassifier.fromFile(new URL("../models/mnist-cnn.onnx", import.meta.url).pathname);
  const { train, test } = loadMnist();
  const data = { x: train.x, labels: labelsOf(train.y), numClasses: 10, source: "mnist" };
  const testLabels = labelsOf(test.y);
  const evaluation = { x: sliceRows(test.x, 1000, 2000), labels: testLabels.slice(1000, 2000) };
  const targetRows = testLabels.flatMap((y, i) => (y === TARGET_CLASS ? [i] : [])).slice(0, TARGETS);
  const lines = [
    `feature collision — ${TARGETS} test ${TARGET_CLASS}s as ${BASE_CLASS}, ${data.labels.length} training rows, bundled CNN, last layer retrained ${EPOCHS} epochs, ${featureCollision.defaults.maxIter} iterations`,
  ];
  try {
    const clean = await retrainLastLayer(model, data, { epochs: EPOCHS });
    let controlHits = 0;
    let controlAccuracy = 0;
    for (const setting of SETTINGS) {
      let hits = 0;
      let accuracy = 0;
      for (const row of targetRows) {
        const targets = { x: gatherRows(test.x, [row]), labels: [TARGET_CLASS] };
        const crafted = await featureCollision.poison(
          data,
          { ...featureCollision.defaults, ...setting, baseClass: BASE_CLASS },
          { rng: createRng(0), model, targets },
        );
        if (setting === SETTINGS[0]) {
          const control = await poisonSuccess(clean, evaluation, crafted.manifest);
          controlHits += control.attack_success_rate;
          controlAccuracy = control.clean_accuracy;
        }
        const victim = await retrainLastLayer(model, crafted, { epochs: EPOCHS });
        const s = await poisonSuccess(victim, evaluation, crafted.manifest);
        await victim.release();
        hits += s.attack_success_rate;
        accuracy += s.clean_accuracy / TARGETS;
        log(`feature collision ${JSON.stringify(setting)} target ${row}: ${s.attack_success_rate === 1 ? "hit" : "miss"}`);
      }
      if (setting === SETTINGS[0])
        lines.push(`  no poisons (control): ${controlHits}/${TARGETS} targets taken for ${BASE_CLASS}, test accuracy ${pct(controlAccuracy)}`);
      lines.push(
        `  ${String(setting.count).padStart(2)} poisons, watermark ${setting.watermark.toFixed(1)}: ${hits}/${TARGETS} targets taken for ${BASE_CLASS}, mean test accuracy ${pct(accuracy)}`,
      );
    }
    await clean.release();
  } finally {
    await model.release();
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchFeatureCollision((l) => console.error(l))) console.log(line);
