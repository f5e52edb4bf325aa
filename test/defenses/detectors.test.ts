/**
 * Adversarial-input detectors on the bundled MNIST CNN. The feature-squeezing detector
 * (Xu et al. 2018) must flag ≥ 90% of successful C&W L2 examples with its threshold fitted
 * at 5% false positives on one set of clean test images and the false-positive rate
 * measured on another; the Mahalanobis detector (Lee et al. 2018) is reported on the same
 * examples and on PGD and FGSM. Then the pieces: thresholds, AUROC, the pseudo-inverse,
 * Gaussian fitting, and saving/loading a detector bound to its model's SHA-256.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { carliniWagnerL2 } from "../../src/attacks/evasion/carlini-wagner-l2.js";
import { fgsm } from "../../src/attacks/evasion/fgsm.js";
import { pgd } from "../../src/attacks/evasion/pgd.js";
import { type DetectionReport, detectCommand } from "../../src/cli/commands/detect.js";
import { loadMnist, saveNpz } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { fitFeatureSqueezing, parseSqueezers } from "../../src/defenses/detectors/feature-squeezing.js";
import { fitGaussians, fitMahalanobis, pseudoInverseSymmetric } from "../../src/defenses/detectors/mahalanobis.js";
import { loadDetector, saveDetector } from "../../src/defenses/detectors/persistence.js";
import { auroc, flaggedFraction, thresholdAtFpr } from "../../src/defenses/detectors/threshold.js";
import { encryptFile } from "../../src/encryption/index.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { createFeatureExtractor } from "../../src/engine/features.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { loadModel, saveModel } from "../../src/onnx/io.js";
import { float32, gatherRows, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { train: mnistTrain, test: mnistTest } = loadMnist();
const testLabels = labelsOf(mnistTest.y);
// Disjoint clean sets: the threshold is fitted on the last 1,000 test images, the
// false-positive rate measured on the first 1,000 (the attacked images come from those).
const calibration = sliceRows(mnistTest.x, 1000, 2000);
const heldOut = sliceRows(mnistTest.x, 0, 1000);
const attacked = 100;

/** The adversarial examples that succeed: the clean image was classified right and its example is not. */
async function successful(clf: OnnxClassifier, x: Tensor<"float32">, adv: Tensor<"float32">, labels: number[]): Promise<Tensor<"float32">> {
  const clean = await clf.predict(x);
  const out = await clf.predict(adv);
  const rows = labels.flatMap((y, i) => (argmaxRow(clean, i) === y && argmaxRow(out, i) !== y ? [i] : []));
  return gatherRows(adv, rows);
}

test("feature squeezing (1-bit, 2×2 median) flags ≥ 90% of C&W L2 examples at ≤ 5% false positives on clean MNIST", async (t) => {
  const clf = await OnnxClassifier.fromFile(demo);
  const detector = await fitFeatureSqueezing(clf, calibration, { fpr: 0.05 });
  assert.deepEqual(detector.squeezers, parseSqueezers("bits=1,median=2"));
  const calibrationScores = await detector.score(calibration);
  const cleanScores = await detector.score(heldOut);
  const fittedFpr = flaggedFraction(calibrationScores, detector.threshold);
  const fpr = flaggedFraction(cleanScores, detector.threshold);

  const x = sliceRows(mnistTest.x, 0, attacked);
  const y = testLabels.slice(0, attacked);
  // The attack's own defaults (5 binary-search steps of 100 Adam steps, κ = 0).
  const cw = await carliniWagnerL2.run(clf, x, y, carliniWagnerL2.defaults, { rng: createRng(0) });
  const cwAdv = await successful(clf, x, cw.x, y);
  const cwScores = await detector.score(cwAdv);
  const tpr = flaggedFraction(cwScores, detector.threshold);
  const area = auroc(cleanScores, cwScores);
  // A threshold fitted at 4% keeps the held-out rate under 5% despite sampling error.
  const strict = thresholdAtFpr(calibrationScores, 0.04);
  const strictFpr = flaggedFraction(cleanScores, strict);
  const strictTpr = flaggedFraction(cwScores, strict);
  t.diagnostic(
    `feature squeezing: threshold ${detector.threshold.toFixed(5)}, FPR ${fittedFpr.toFixed(3)} (fit set) ${fpr.toFixed(3)} (held out, 1000), TPR on ${cwAdv.shape[0]} successful C&W L2 ${tpr.toFixed(3)}, AUROC ${area.toFixed(4)}; fitted at 4%: held-out FPR ${strictFpr.toFixed(3)}, TPR ${strictTpr.toFixed(3)}`,
  );
  assert.ok(fittedFpr <= 0.05, `FPR on the fit set ${fittedFpr}`);
  // On other clean images the rate is 5% up to sampling error: 2 standard deviations of a binomial proportion over 1,000.
  assert.ok(fpr <= 0.05 + 2 * Math.sqrt((0.05 * 0.95) / 1000), `held-out FPR ${fpr}`);
  assert.ok(fpr > 0.01, `held-out FPR ${fpr}: a threshold at 5% should flag some clean images`);
  assert.ok(cwAdv.shape[0] >= 0.9 * attacked, `C&W succeeded on only ${cwAdv.shape[0]} of ${attacked}`);
  assert.ok(tpr >= 0.9, `TPR on C&W L2 ${tpr}`);
  assert.ok(strictFpr <= 0.05 && strictTpr >= 0.9, `fitted at 4%: held-out FPR ${strictFpr}, TPR ${strictTpr}`);
  assert.ok(area > 0.95, `AUROC ${area}`);

  // Mahalanobis on the same examples and on PGD / FGSM, on the penultimate layer and on the
  // first convolution's channel means (reported, not asserted: Lee et al. combine all layers
  // with weights fitted on adversarial examples).
  const pgdAdv = await successful(clf, x, (await pgd.run(clf, x, y, { ...pgd.defaults, eps: 0.3, epsStep: 0.01, maxIter: 40 }, { rng: createRng(1) })).x, y);
  const fgsmAdv = await successful(clf, x, (await fgsm.run(clf, x, y, { ...fgsm.defaults, eps: 0.3 }, { rng: createRng(2) })).x, y);
  const sets = [
    ["C&W L2", cwAdv],
    ["PGD ε=0.3", pgdAdv],
    ["FGSM ε=0.3", fgsmAdv],
  ] as const;
  for (const [name, adv] of sets) {
    const s = await detector.score(adv);
    t.diagnostic(
      `${name} (${adv.shape[0]} successful): feature squeezing TPR ${flaggedFraction(s, detector.threshold).toFixed(3)} AUROC ${auroc(cleanScores, s).toFixed(3)}`,
    );
  }
  for (const layer of [undefined, "m/relu_4"]) {
    const extractor = await createFeatureExtractor(loadModel(demo), { layer });
    const mahalanobis = await fitMahalanobis(extractor, mnistTrain.x, labelsOf(mnistTrain.y), { calibration, fpr: 0.05 });
    const mClean = await mahalanobis.score(heldOut);
    const results = [];
    for (const [name, adv] of sets) {
      const m = await mahalanobis.score(adv);
      results.push(`${name} TPR ${flaggedFraction(m, mahalanobis.threshold).toFixed(3)} AUROC ${auroc(mClean, m).toFixed(3)}`);
    }
    t.diagnostic(`mahalanobis on ${extractor.layer}: held-out FPR ${flaggedFraction(mClean, mahalanobis.threshold).toFixed(3)}; ${results.join("; ")}`);
    if (layer === undefined) {
      // The generative classifier of the fitted Gaussians agrees with the network on clean data.
      const closest = await mahalanobis.closestClass(sliceRows(heldOut, 0, 300));
      const agree = closest.filter((c, i) => c === testLabels[i]).length / 300;
      assert.ok(agree > 0.95, `Mahalanobis closest-class accuracy ${agree}`);
    }
    await extractor.release();
  }
  await clf.release();
});

test("thresholdAtFpr flags at most ⌊fpr·n⌋ clean scores, and AUROC is the Mann–Whitney statistic", () => {
  const scores = Float32Array.from({ length: 100 }, (_, i) => i / 100);
  const t5 = thresholdAtFpr(scores, 0.05);
  assert.equal(flaggedFraction(scores, t5), 0.05);
  assert.ok(t5 > 0.94 && t5 < 0.95);
  // At FPR 0 nothing clean is flagged, not even the largest score.
  assert.equal(flaggedFraction(scores, thresholdAtFpr(scores, 0)), 0);
  // Ties cannot be split: equal scores are all flagged or none.
  const tied = Float32Array.from([0, 0.5, 0.5, 0.5, 1]);
  assert.equal(flaggedFraction(tied, thresholdAtFpr(tied, 0.5)), 0.2);
  assert.throws(() => thresholdAtFpr(scores, 1), AegisError);
  assert.equal(auroc([0, 1], [2, 3]), 1);
  assert.equal(auroc([2, 3], [0, 1]), 0);
  assert.equal(auroc([1, 1], [1, 1]), 0.5);
  // Clean {0, 2}, adversarial {1, 3}: pairs (1>0), (1<2), (3>0), (3>2) → 3/4.
  assert.equal(auroc([0, 2], [1, 3]), 0.75);
});

test("the pseudo-inverse inverts a covariance and handles a singular one (A·A⁺·A = A)", () => {
  const rng = createRng(7);
  const d = 12;
  const samples = 200;
  const x = Float64Array.from({ length: samples * d }, () => rng.normal());
  // Mix, and make the last feature a dead unit (always 0).
  for (let i = 0; i < samples; i++) {
    x[i * d + 1] += 2 * x[i * d];
    x[i * d + d - 1] = 0;
  }
  const cov = new Float64Array(d * d);
  for (let i = 0; i < samples; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) cov[a * d + b] += (x[i * d + a] * x[i * d + b]) / samples;
  const pinv = pseudoInverseSymmetric(cov, d);
  const mul = (p: Float64Array, q: Float64Array) => {
    const out = new Float64Array(d * d);
    for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) for (let j = 0; j < d; j++) out[i * d + j] += p[i * d + k] * q[k * d + j];
    return out;
  };
  const back = mul(mul(cov, pinv), cov);
  let worst = 0;
  for (let i = 0; i < d * d; i++) worst = Math.max(worst, Math.abs(back[i] - cov[i]));
  assert.ok(worst < 1e-10, `A·A⁺·A differs from A by ${worst}`);
  // On the live block it is a true inverse: (A·A⁺)[0][0] = 1; the dead unit gets 0.
  assert.ok(Math.abs(mul(cov, pinv)[0] - 1) < 1e-10);
  for (let j = 0; j < d; j++) assert.equal(pinv[(d - 1) * d + j], 0);
});

test("fitGaussians recovers class means and the tied covariance's inverse", () => {
  const rng = createRng(11);
  const n = 4000;
  const d = 3;
  const means = [
    [0, 0, 0],
    [5, -2, 1],
  ];
  const std = [1, 2, 0.5];
  const labels = Array.from({ length: n }, (_, i) => (i % 2) * 3); // classes 0 and 3
  const features = float32(
    [n, d],
    Float32Array.from({ length: n * d }, (_, k) => means[labels[Math.floor(k / d)] / 3][k % d] + std[k % d] * rng.normal()),
  );
  const stats = fitGaussians(features, labels, "f");
  assert.deepEqual(stats.classes, [0, 3]);
  for (let c = 0; c < 2; c++) for (let j = 0; j < d; j++) assert.ok(Math.abs(stats.means[c * d + j] - means[c][j]) < 0.1);
  for (let j = 0; j < d; j++) {
    const expected = 1 / std[j] ** 2;
    assert.ok(Math.abs(stats.precision[j * d + j] - expected) < 0.1 * expected, `precision[${j}] ${stats.precision[j * d + j]} vs ${expected}`);
  }
});

test("a saved detector scores the same after loading, and refuses another model", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-detect-"));
  const clf = await OnnxClassifier.fromFile(demo);
  const x = sliceRows(mnistTest.x, 0, 200);
  const squeezing = await fitFeatureSqueezing(clf, x, { fpr: 0.1, squeezers: parseSqueezers("bits=2,median=3") });
  const extractor = await createFeatureExtractor(loadModel(demo));
  const mahalanobis = await fitMahalanobis(extractor, sliceRows(mnistTrain.x, 0, 2000), labelsOf(mnistTrain.y).slice(0, 2000), {
    fpr: 0.1,
    noiseMagnitude: 0.01,
  });
  const other = join(dir, "other.onnx");
  saveModel(other, buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 9 }));
  const probe = sliceRows(mnistTest.x, 500, 560);
  for (const detector of [squeezing, mahalanobis]) {
    const path = join(dir, `${detector.name}.json`);
    saveDetector(path, detector, demo, { data: "mnist-test[0:200]", samples: 200 });
    const file = JSON.parse(readFileSync(path, "utf8"));
    assert.equal(file.model.sha256.length, 64);
    const loaded = await loadDetector(path, demo);
    assert.equal(loaded.detector.name, detector.name);
    assert.equal(loaded.detector.threshold, detector.threshold);
    assert.deepEqual(await loaded.detector.score(probe), await detector.score(probe));
    await loaded.release();
    await assert.rejects(loadDetector(path, other), (e: unknown) => e instanceof AegisError && e.code === "BAD_MODEL" && /aegis detect fit/.test(e.message));
    // A copy of the same model file is the same model.
    const copy = join(dir, "copy.onnx");
    copyFileSync(demo, copy);
    await (await loadDetector(path, copy)).release();
    // The same model encrypted (aegis encrypt) is the same model too: the binding is to the plaintext.
    const key = { kind: "key" as const, key: randomBytes(32) };
    encryptFile(demo, join(dir, "mnist-cnn.onnx.aegis"), [key]);
    process.env.AEGIS_KEY = `aegis-key-1:${key.key.toString("base64url")}`;
    try {
      await (await loadDetector(path, join(dir, "mnist-cnn.onnx.aegis"))).release();
    } finally {
      delete process.env.AEGIS_KEY;
    }
  }
  writeFileSync(join(dir, "bad.json"), '{"format":"something else"}');
  await assert.rejects(loadDetector(join(dir, "bad.json"), demo), (e: unknown) => e instanceof AegisError && e.code === "BAD_DATA");
  // Input pre-processing moves clean inputs towards their closest class: distances shrink.
  const plain = await fitMahalanobis(extractor, sliceRows(mnistTrain.x, 0, 2000), labelsOf(mnistTrain.y).slice(0, 2000));
  const noisy = await mahalanobis.score(probe);
  const base = await plain.score(probe);
  const shrunk = base.filter((b, i) => noisy[i] < b).length;
  assert.ok(shrunk >= 0.9 * base.length, `pre-processing lowered the distance of only ${shrunk}/${base.length} samples`);
  await extractor.release();
  await clf.release();
});

/** Runs a commander command in-process and returns what it printed on stdout. */
async function run(command: { parseAsync(argv: string[], options: { from: "user" }): Promise<unknown> }, argv: string[]): Promise<string> {
  const write = process.stdout.write;
  let out = "";
  // Commands print strings; the test runner's own binary messages pass through.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== "string") return write.call(process.stdout, chunk, ...rest);
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await command.parseAsync(argv, { from: "user" });
  } finally {
    process.stdout.write = write;
  }
  return out;
}

test("aegis detect fit / score: writes a detector, then reports FPR, TPR and AUROC per adversarial set", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-detect-cli-"));
  const detectorPath = join(dir, "fs.json");
  await run(detectCommand(), [
    "fit",
    "--model",
    demo,
    "--detector",
    "feature-squeezing",
    "--data",
    "mnist",
    "--split",
    "test",
    "--samples",
    "400",
    "--out",
    detectorPath,
  ]);
  const clf = await OnnxClassifier.fromFile(demo);
  const x = sliceRows(mnistTest.x, 1900, 1960);
  const y = testLabels.slice(1900, 1960);
  const adv = await fgsm.run(clf, x, y, { ...fgsm.defaults, eps: 0.3 }, { rng: createRng(0) });
  await clf.release();
  const advPath = join(dir, "fgsm.npz");
  saveNpz(advPath, { x: adv.x, y: sliceRows(mnistTest.y, 1900, 1960) });
  const report = JSON.parse(
    await run(detectCommand(), [
      "score",
      "--detector",
      detectorPath,
      "--model",
      demo,
      "--data",
      "mnist",
      "--samples",
      "1000",
      "--adversarial",
      advPath,
      "--json",
    ]),
  ) as DetectionReport;
  assert.equal(report.detector, "feature-squeezing");
  assert.equal(report.clean.samples, 1000);
  assert.ok(report.clean.flagged < 0.1, `clean flagged ${report.clean.flagged}`);
  const [set] = report.adversarial;
  assert.equal(set.samples, 60);
  assert.ok((set.misclassified ?? 0) > 30, `FGSM ε=0.3 misclassified ${set.misclassified}`);
  assert.ok(set.flagged > report.clean.flagged && (set.auroc ?? 0) > 0.5, JSON.stringify(set));
  await assert.rejects(
    run(detectCommand(), ["fit", "--model", demo, "--detector", "lid", "--out", join(dir, "x.json")]),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION",
  );
});
