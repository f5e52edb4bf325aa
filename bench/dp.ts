/**
 * DP-SGD (issue 18): the CNN of `aegis train --arch cnn` trained on a built-in MNIST split
 * with DP-SGD at ε ∈ {1, 3, 8} (δ 1e-5, σ solved by the RDP accountant), next to the same
 * network trained without DP on the same samples for the same epochs; test accuracy of
 * each, and DP-SGD's samples/s over ordinary training's in the same run (target ≥ 0.5).
 * Anchors with 60,000 images: Opacus 94.6% at ε 1.16, 96.8% at ε 2.91; TF Privacy 95.0%
 * at ε 1.19, 96.6% at ε 3.01. Settings: Poisson-sampled expected batch 256, C 1, plain SGD
 * (lr 2, no momentum; 0.5 measured worse) on the noisy sum over the expected batch; the non-private run uses
 * SGD lr 0.05 with momentum 0.9 (aegis train's SGD). BENCH_DP_DATA (mnist | mnist-full,
 * default mnist: 8,000 images), BENCH_DP_EPOCHS (default 10), BENCH_DP_EPSILONS (default
 * 1,3,8), BENCH_DP_LR.
 * The accountant's reference values are checked in test/privacy/accountant.test.ts and
 * printed here too.
 */
import { loadDataset } from "../src/data/index.js";
import { buildArchitecture, OnnxClassifier, sgd, train } from "../src/engine/index.js";
import { countCorrect } from "../src/engine/trainer.js";
import { epsilonSpent, trainDpSgd } from "../src/privacy/index.js";
import { labelsOf } from "../src/tensor.js";

export async function benchDp(log: (line: string) => void = () => {}): Promise<string[]> {
  const dataName = process.env.BENCH_DP_DATA ?? "mnist";
  const epochs = Number(process.env.BENCH_DP_EPOCHS ?? 10);
  const epsilons = (process.env.BENCH_DP_EPSILONS ?? "1,3,8").split(",").map(Number);
  const lr = Number(process.env.BENCH_DP_LR ?? 2);
  const batchSize = 256;
  const trainData = loadDataset(dataName, { split: "train" });
  const testData = loadDataset(dataName, { split: "test" });
  const data = { x: trainData.x, labels: labelsOf(trainData.y as NonNullable<typeof trainData.y>) };
  const testLabels = labelsOf(testData.y as NonNullable<typeof testData.y>);
  const n = trainData.x.shape[0];
  const fresh = () => OnnxClassifier.create(buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 }), { trainable: true, batchSize });
  const accuracy = async (clf: OnnxClassifier) => countCorrect(await clf.predict(testData.x), testLabels) / testLabels.length;

  const lines = [`DP-SGD on ${dataName} (${n.toLocaleString("en-US")} training images), CNN, expected batch ${batchSize}, ${epochs} epochs, C 1, δ 1e-5`];
  const reference = [
    ["σ 1.3, q 0.0025, 6,000 steps, δ 1e-5 (TF Privacy: 0.7242)", epsilonSpent([{ noiseMultiplier: 1.3, samplingRate: 0.0025, steps: 6000 }], 1e-5).epsilon],
    ["σ 1.0, q 0.001, 30,000 steps, δ 1e-7 (TF Privacy: 1.4155)", epsilonSpent([{ noiseMultiplier: 1, samplingRate: 0.001, steps: 30000 }], 1e-7).epsilon],
    [
      "σ 1.1, q 256/60,000, 14,063 steps, older conversion (TF Privacy: 3.0092)",
      epsilonSpent([{ noiseMultiplier: 1.1, samplingRate: 256 / 60000, steps: 14063 }], 1e-5, { conversion: "mironov2017" }).epsilon,
    ],
  ] as const;
  for (const [what, eps] of reference) lines.push(`  accountant  ${what}: ${eps.toFixed(4)}`);

  const plain = await fresh();
  const baseline = await train(plain, data, { epochs, batchSize, optimizer: sgd({ lr: 0.05, momentum: 0.9 }), seed: 0 });
  const plainRate = baseline.reduce((s, e) => s + e.samplesPerSecond, 0) / baseline.length;
  const plainAccuracy = await accuracy(plain);
  await plain.release();
  lines.push(`  non-private  test accuracy ${(plainAccuracy * 100).toFixed(2)}% · ${plainRate.toFixed(0)} samples/s`);
  log(lines.at(-1) as string);

  for (const target of epsilons) {
    const clf = await fresh();
    const { plan, history } = await trainDpSgd(
      clf,
      data,
      { targetEpsilon: target, maxGradNorm: 1, delta: 1e-5, batchSize, epochs },
      { optimizer: sgd({ lr, momentum: 0 }), onEpoch: (s) => log(`  ε ${target}: epoch ${s.epoch} loss ${s.loss.toFixed(3)} ε spent ${s.epsilon.toFixed(3)}`) },
    );
    const rate = history.reduce((s, e) => s + e.samplesPerSecond, 0) / history.length;
    lines.push(
      `  ε ${plan.epsilon.toFixed(2)} (target ${target}, σ ${plan.noiseMultiplier.toFixed(3)})  test accuracy ${((await accuracy(clf)) * 100).toFixed(2)}% · ${rate.toFixed(0)} samples/s = ${(rate / plainRate).toFixed(2)}× ordinary training (target ≥ 0.5)`,
    );
    log(lines.at(-1) as string);
    await clf.release();
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDp((l) => console.error(l))) console.log(line);
