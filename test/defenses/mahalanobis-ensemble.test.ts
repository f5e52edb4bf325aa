/**
 * Lee et al.'s (NeurIPS 2018) Mahalanobis feature ensemble: the logistic regression against
 * closed forms, then on the bundled MNIST CNN — Gaussians per ReLU layer, the regression
 * fitted on clean vs FGSM examples of a held-out slice of the training digits — it must
 * detect successful C&W L2 examples at least as well as the best single layer (within
 * binomial noise) at a held-out false-positive rate within binomial tolerance of 5%, and
 * survive a save/load round trip with identical scores.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { carliniWagnerL2 } from "../../src/attacks/evasion/carlini-wagner-l2.js";
import { detectCommand } from "../../src/cli/commands/detect.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { fitLogisticRegression, fitMahalanobis, fitMahalanobisEnsemble, isMahalanobisEnsemble } from "../../src/defenses/detectors/mahalanobis.js";
import { loadDetector, saveDetector } from "../../src/defenses/detectors/persistence.js";
import { flaggedFraction } from "../../src/defenses/detectors/threshold.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { createFeatureExtractor } from "../../src/engine/features.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { loadModel } from "../../src/onnx/io.js";
import { gatherRows, labelsOf, sliceRows } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;

test("logistic regression: unpenalised, one binary feature gives the empirical log-odds per value", () => {
  // x = 0: 3 positives, 1 negative → bias = ln 3; x = 1: 1 positive, 3 negatives → bias + w = −ln 3.
  const x = [0, 0, 0, 0, 1, 1, 1, 1];
  const y = [1, 1, 1, 0, 1, 0, 0, 0];
  const { weights, bias } = fitLogisticRegression([x], y, 0);
  assert.ok(Math.abs(bias - Math.log(3)) < 1e-8, `bias ${bias}`);
  assert.ok(Math.abs(weights[0] + 2 * Math.log(3)) < 1e-8, `weight ${weights[0]}`);
});

test("logistic regression: separable ±1 data with L2 penalty λ stops where λ·w = σ(−w)", () => {
  // Mean log-loss of {(+1, 1), (−1, 0)} + (λ/2)w²: by symmetry bias 0, and the gradient
  // vanishes where λ·w = σ(−w); λ = σ(−2)/2 puts the optimum at w = 2. The features are
  // already standardised (mean 0, standard deviation 1), so the raw weight is that w.
  const lambda = 1 / (1 + Math.exp(2)) / 2;
  const { weights, bias } = fitLogisticRegression([[1, -1]], [1, 0], lambda);
  assert.ok(Math.abs(weights[0] - 2) < 1e-8, `weight ${weights[0]}`);
  assert.ok(Math.abs(bias) < 1e-8, `bias ${bias}`);
  // Scaled inputs: the penalty acts on the standardised feature, so the weight scales back by 1/10.
  const scaled = fitLogisticRegression([[10, -10]], [1, 0], lambda);
  assert.ok(Math.abs(scaled.weights[0] - 0.2) < 1e-8, `scaled weight ${scaled.weights[0]}`);
  // The second feature carries no information (the same value for both classes' points): weight 0.
  const two = fitLogisticRegression(
    [
      [1, -1, 1, -1],
      [1, 1, -1, -1],
    ],
    [1, 0, 1, 0],
    lambda,
  );
  assert.ok(Math.abs(two.weights[0] - 2) < 1e-8 && Math.abs(two.weights[1]) < 1e-8, `weights ${two.weights}`);
  assert.throws(
    () => fitLogisticRegression([[1, 2]], [1, 1], 0.1),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_DATA",
  );
});

test("the FGSM-fitted ensemble over the ReLU layers detects C&W L2 at least as well as the best single layer, at 5% false positives", async (t) => {
  const { train, test: mnistTest } = loadMnist();
  const trainLabels = labelsOf(train.y);
  const testLabels = labelsOf(mnistTest.y);
  // Threshold on test[1000:2000], false-positive rate measured on test[0:1000].
  const calibration = sliceRows(mnistTest.x, 1000, 2000);
  const heldOut = sliceRows(mnistTest.x, 0, 1000);
  const clf = await OnnxClassifier.fromFile(demo);
  const attacked = 60;
  const x = sliceRows(mnistTest.x, 0, attacked);
  const y = testLabels.slice(0, attacked);
  const adv = (await carliniWagnerL2.run(clf, x, y, carliniWagnerL2.defaults, { rng: createRng(0) })).x;
  const clean = await clf.predict(x);
  const out = await clf.predict(adv);
  const cw = gatherRows(
    adv,
    y.flatMap((label, i) => (argmaxRow(clean, i) === label && argmaxRow(out, i) !== label ? [i] : [])),
  );
  assert.ok(cw.shape[0] >= 50, `C&W succeeded on only ${cw.shape[0]} of ${attacked}`);

  const layers = ["m/relu_4", "m/relu_10", "m/relu_20"];
  const extractors = [];
  for (const layer of layers) extractors.push(await createFeatureExtractor(loadModel(demo), { layer }));
  const n = train.x.shape[0];
  const validation = 1000;
  const ensemble = await fitMahalanobisEnsemble(extractors, clf, train.x, trainLabels, { calibration, fpr: 0.05, validationSamples: validation });
  assert.equal(ensemble.fittedAgainst, "fgsm ε=0.05");
  const ensembleTpr = flaggedFraction(await ensemble.score(cw), ensemble.threshold);
  const ensembleFpr = flaggedFraction(await ensemble.score(heldOut), ensemble.threshold);
  // Single layers on the same Gaussian-fit data (the ensemble's held-out slice excluded).
  const single: number[] = [];
  for (const extractor of extractors) {
    const d = await fitMahalanobis(extractor, sliceRows(train.x, 0, n - validation), trainLabels.slice(0, n - validation), { calibration, fpr: 0.05 });
    single.push(flaggedFraction(await d.score(cw), d.threshold));
    // The ensemble's member for this layer holds the same Gaussians.
    const member = ensemble.members[single.length - 1];
    assert.deepEqual(member.statistics.means, d.statistics.means);
  }
  t.diagnostic(
    `C&W (${cw.shape[0]} successful) TPR: ${layers.map((l, i) => `${l} ${single[i].toFixed(3)}`).join(", ")}; ensemble ${ensembleTpr.toFixed(3)} at held-out FPR ${ensembleFpr.toFixed(3)}; weights ${ensemble.regression.weights.map((w) => w.toPrecision(3))}`,
  );
  const best = Math.max(...single);
  // Within two binomial standard errors of the best single layer.
  const slack = 2 * Math.sqrt((best * (1 - best)) / cw.shape[0]) + 1 / cw.shape[0];
  assert.ok(ensembleTpr >= best - slack, `ensemble TPR ${ensembleTpr} vs best single layer ${best}`);
  assert.ok(ensembleTpr >= 0.85, `ensemble TPR ${ensembleTpr}`);
  // 1,000 held-out clean digits at a nominal 5%: three binomial standard errors ≈ 2.1 points.
  assert.ok(Math.abs(ensembleFpr - 0.05) <= 3 * Math.sqrt((0.05 * 0.95) / 1000), `held-out FPR ${ensembleFpr}`);

  // Save and load: the same layers, weights and scores.
  const dir = mkdtempSync(join(tmpdir(), "aegis-maha-ensemble-"));
  const path = join(dir, "ensemble.json");
  saveDetector(path, ensemble, demo, { data: "mnist-train", samples: n });
  const file = JSON.parse(readFileSync(path, "utf8"));
  assert.deepEqual(
    file.params.layers.map((l: { layer: string }) => l.layer),
    layers,
  );
  const loaded = await loadDetector(path, demo);
  assert.ok(loaded.detector.name === "mahalanobis" && isMahalanobisEnsemble(loaded.detector));
  assert.deepEqual(loaded.detector.regression, ensemble.regression);
  assert.equal(loaded.detector.threshold, ensemble.threshold);
  const probe = sliceRows(mnistTest.x, 500, 560);
  assert.deepEqual(await loaded.detector.score(probe), await ensemble.score(probe));
  await loaded.release();

  for (const extractor of extractors) await extractor.release();
  await clf.release();
});

test("aegis detect fit --layer all-relu fits the noise-fitted ensemble over every Relu output; a malformed list is refused", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-maha-cli-"));
  const out = join(dir, "maha.json");
  const common = ["fit", "--model", demo, "--detector", "mahalanobis", "--data", "mnist", "--samples", "1500", "--out", out];
  await detectCommand().parseAsync([...common, "--layer", "all-relu", "--ensemble-against", "noise", "--ensemble-samples", "500"], { from: "user" });
  const file = JSON.parse(readFileSync(out, "utf8"));
  assert.deepEqual(
    file.params.layers.map((l: { layer: string }) => l.layer),
    ["m/relu_4", "m/relu_10", "m/relu_20"],
  );
  assert.equal(file.params.fittedAgainst, "noise σ=0.05");
  assert.equal(file.params.regression.weights.length, 3);
  assert.deepEqual(Object.keys(file.arrays).sort(), ["means.0", "means.1", "means.2", "precision.0", "precision.1", "precision.2"]);
  // Threshold at 5% of the 1,000 digits the Gaussians were fitted on.
  const loaded = await loadDetector(out, demo);
  const { train } = loadMnist();
  assert.equal(flaggedFraction(await loaded.detector.score(sliceRows(train.x, 0, 1000)), loaded.detector.threshold), 0.05);
  await loaded.release();
  await assert.rejects(
    detectCommand().parseAsync([...common, "--layer", "m/relu_4,,m/relu_10"], { from: "user" }),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && /empty layer name/.test(e.message),
  );
  await assert.rejects(
    detectCommand().parseAsync([...common, "--layer", "m/relu_4,m/relu_10", "--ensemble-against", "pgd"], { from: "user" }),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && /fgsm or noise/.test(e.message),
  );
});
