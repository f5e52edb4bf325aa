/**
 * Randomized smoothing (Cohen et al. 2019). The statistics are checked against SciPy
 * values and against exact binomial sums; CERTIFY against classifiers whose smoothed
 * version is known in closed form (a constant one, a linear one: its certified radius must
 * approach, and never exceed, the true distance to the boundary); then a CNN trained with
 * Gaussian augmentation must certify most MNIST test digits at radius 0.5 with σ = 0.25.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { betaQuantile, binomialTestHalf, clopperPearsonLower, clopperPearsonUpper, regularizedBeta } from "../../src/binomial.js";
import { type CertifyReport, certifyCommand } from "../../src/cli/commands/certify.js";
import { loadMnist } from "../../src/data/index.js";
import {
  abstainRate,
  type Certificate,
  certifiedAccuracy,
  certify,
  maximumRadius,
  predictSmoothed,
} from "../../src/defenses/certification/randomized-smoothing.js";
import { gaussianAugmentation } from "../../src/defenses/trainers/gaussian-augmentation.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import type { Predictor } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { adam } from "../../src/engine/optimizers.js";
import { train } from "../../src/engine/trainer.js";
import { logGamma, normalCdf, normalQuantile } from "../../src/normal.js";
import { float32, labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const close = (actual: number, expected: number, rel: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= rel * Math.abs(expected), `${what}: ${actual} vs ${expected}`);

test("special functions match SciPy 1.17 (scipy.special / scipy.stats) to ~1e-12", () => {
  close(logGamma(0.5), 0.5723649429247, 1e-13, "gammaln(0.5)");
  close(logGamma(100001), 1051299.2218991218, 1e-15, "gammaln(100001)");
  close(logGamma(3.7), 1.428072326665388, 1e-13, "gammaln(3.7)");
  close(regularizedBeta(0.3, 2, 5), 0.5798250000000003, 1e-13, "betainc(2, 5, 0.3)");
  close(regularizedBeta(0.5, 60, 41), 0.028443966820490444, 1e-12, "betainc(60, 41, 0.5)");
  close(regularizedBeta(0.999, 99990, 11), 1.0924478414689557e-30, 1e-8, "betainc(99990, 11, 0.999)");
  close(betaQuantile(0.001, 99990, 11), 0.9997586773435911, 1e-14, "beta.ppf(0.001, 99990, 11)");
  close(betaQuantile(0.001, 950, 51), 0.925046780060944, 1e-13, "beta.ppf(0.001, 950, 51)");
  close(betaQuantile(0.3, 0.5, 0.5), 0.2061073738537634, 1e-13, "beta.ppf(0.3, 0.5, 0.5)");
  close(clopperPearsonLower(990, 1000, 0.001), 0.9760361871553114, 1e-13, "beta.ppf(0.001, 990, 11)");
  close(normalQuantile(0.975), 1.959963984540054, 1e-14, "norm.ppf(0.975)");
  close(normalQuantile(0.99312), 2.4634684629132764, 1e-13, "norm.ppf(0.99312)");
  close(normalQuantile(1e-10), -6.361340902404056, 1e-13, "norm.ppf(1e-10)");
  close(normalCdf(-5), 2.866515718791933e-7, 1e-12, "norm.cdf(-5)");
  close(normalCdf(1.3), 0.9031995154143897, 1e-14, "norm.cdf(1.3)");
  close(binomialTestHalf(60, 100), 0.05688793364098089, 1e-12, "binomtest(60, 100)");
  close(binomialTestHalf(540, 1000), 0.012444146277171799, 1e-10, "binomtest(540, 1000)");
  assert.equal(binomialTestHalf(50, 100), 1);
  for (const p of [1e-300, 1e-12, 0.001, 0.3, 0.5, 0.77, 0.999999]) close(normalCdf(normalQuantile(p)), p, 1e-12, `Φ(Φ⁻¹(${p}))`);
});

/** P(X ≥ k), X ~ Binomial(n, p), summed term by term in log space: independent of the incomplete beta. */
function exactUpperTail(k: number, n: number, p: number): number {
  let logChoose = 0; // ln C(n, 0)
  let sum = 0;
  for (let j = 0; j <= n; j++) {
    if (j > 0) logChoose += Math.log((n - j + 1) / j);
    if (j >= k) sum += Math.exp(logChoose + j * Math.log(p) + (n - j) * Math.log1p(-p));
  }
  return sum;
}

test("Clopper–Pearson bounds solve the exact binomial tail equations", () => {
  for (const [k, n] of [
    [1, 10],
    [7, 10],
    [10, 10],
    [55, 100],
    [99, 100],
    [140, 150],
  ]) {
    for (const alpha of [0.001, 0.05]) {
      const lower = clopperPearsonLower(k, n, alpha);
      // The lower bound is the p at which seeing k or more successes has probability α.
      close(exactUpperTail(k, n, lower), alpha, 1e-9, `P(X ≥ ${k} | n=${n}, p=${lower})`);
      const upper = clopperPearsonUpper(k, n, alpha);
      if (k < n) close(1 - exactUpperTail(k + 1, n, upper), alpha, 1e-9, `P(X ≤ ${k} | n=${n}, p=${upper})`);
      assert.ok(lower < k / n && (k === n || upper > k / n));
    }
  }
  assert.equal(clopperPearsonLower(0, 10, 0.05), 0);
  // All n votes: the bound is α^{1/n} (the quantile of Beta(n, 1)).
  close(clopperPearsonLower(1000, 1000, 0.001), 0.001 ** (1 / 1000), 1e-14, "k = n");
});

/** f(x) = 1 when x₀ > ½ else 0, as logits: the smoothed classifier is known in closed form. */
function linearModel(): Predictor & { calls: number } {
  const model = {
    inputShape: [4],
    numClasses: 2,
    clipRange: [0, 1] as const,
    outputKind: "logits" as const,
    calls: 0,
    async predict(x: Tensor<"float32">) {
      model.calls++;
      const n = x.shape[0];
      const out = new Float32Array(n * 2);
      for (let i = 0; i < n; i++) {
        const s = x.data[i * 4] - 0.5;
        out[i * 2] = -s;
        out[i * 2 + 1] = s;
      }
      return float32([n, 2], out);
    },
  };
  return model;
}

test("CERTIFY on a linear classifier: the radius approaches the distance to the boundary and never exceeds it", async () => {
  const sigma = 0.5;
  const n = 20000;
  const distances = [0.6, 0.3, -0.2, 0.1, 0, 5];
  const x = float32(
    [distances.length, 4],
    distances.flatMap((d) => [0.5 + d, 0.2, 0.9, 0.4]),
  );
  const results = await certify(linearModel(), x, { sigma, n, n0: 100, alpha: 0.001, seed: 3 });
  const cap = maximumRadius(sigma, n, 0.001);
  for (const [i, d] of distances.entries()) {
    const r = results[i];
    // g's radius at x is exactly |d| (Cohen et al., the linear case); the bound is below it.
    if (Math.abs(d) < 0.05) {
      assert.equal(r.prediction, null, `d=${d} should abstain, got ${JSON.stringify(r)}`);
      continue;
    }
    assert.equal(r.prediction, d > 0 ? 1 : 0, `d=${d}`);
    const expected = Math.min(Math.abs(d), cap);
    assert.ok(r.radius <= expected + 1e-12, `d=${d}: radius ${r.radius} exceeds ${expected}`);
    assert.ok(r.radius > expected - 0.06, `d=${d}: radius ${r.radius} far below ${expected}`);
  }
  // All votes agree far from the boundary: the radius is the largest n samples can give.
  close(results[5].radius, cap, 1e-12, "radius with every vote");
  close(cap, sigma * normalQuantile(0.001 ** (1 / n)), 1e-15, "σ·Φ⁻¹(α^{1/n})");

  const predictions = await predictSmoothed(linearModel(), x, { sigma, n: 2000, alpha: 0.001, seed: 4 });
  assert.deepEqual(predictions, [1, 1, 0, 1, null, 1]);
});

test("certify stops at an abort signal and reports progress; certifiedAccuracy and abstainRate count right", async () => {
  const controller = new AbortController();
  const progress: number[] = [];
  const x = float32([5, 4], new Float32Array(20).fill(0.9));
  const results = await certify(linearModel(), x, {
    sigma: 0.25,
    n: 500,
    n0: 50,
    batchSize: 128,
    onProgress: (done) => {
      progress.push(done);
      if (done === 2) controller.abort();
    },
    signal: controller.signal,
  });
  assert.equal(results.length, 2);
  assert.deepEqual(progress, [1, 2]);

  const certificates: Certificate[] = [
    { prediction: 1, radius: 0.8, pALower: 0.9, count: 0 },
    { prediction: 2, radius: 0.3, pALower: 0.7, count: 0 },
    { prediction: null, radius: 0, pALower: 0.4, count: 0 },
    { prediction: 0, radius: 0.5, pALower: 0.8, count: 0 },
  ];
  assert.deepEqual(certifiedAccuracy(certificates, [1, 2, 2, 3], [0, 0.3, 0.5, 1]), [0.5, 0.5, 0.25, 0]);
  assert.equal(abstainRate(certificates), 0.25);
  await assert.rejects(certify(linearModel(), x, { sigma: 0 }), /--sigma/);
});

test("a CNN trained with Gaussian augmentation (σ = 0.25) is certified on ≥ 60% of MNIST test digits at radius 0.5", async (t) => {
  const sigma = 0.25;
  const { train: mnistTrain, test: mnistTest } = loadMnist();
  // Small scale: one epoch over 6,000 training digits (the bench trains fully).
  const size = 6000;
  const clf = await OnnxClassifier.create(buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 1 }), { trainable: true, batchSize: 64 });
  await train(
    clf,
    { x: sliceRows(mnistTrain.x, 0, size), labels: labelsOf(mnistTrain.y).slice(0, size) },
    { epochs: 1, batchSize: 64, optimizer: adam({ lr: 2e-3 }), transform: gaussianAugmentation({ sigma }), seed: 1 },
  );
  const model = await OnnxClassifier.create(clf.exportModel(), { batchSize: 1000 });
  await clf.release();
  const count = 40;
  const n = 1000;
  const alpha = 0.001;
  const results = await certify(model, sliceRows(mnistTest.x, 0, count), { sigma, n, n0: 100, alpha, seed: 7 });
  const radii = [0, 0.25, 0.5, 0.75];
  const accuracy = certifiedAccuracy(results, labelsOf(mnistTest.y).slice(0, count), radii);
  t.diagnostic(
    `σ=${sigma}, n=${n}, ${count} digits: certified accuracy ${radii.map((r, i) => `r=${r}: ${accuracy[i].toFixed(3)}`).join(", ")}; abstain ${abstainRate(results).toFixed(3)}`,
  );
  const cap = maximumRadius(sigma, n, alpha);
  for (const r of results) assert.ok(r.radius <= cap + 1e-12, `radius ${r.radius} above σ·Φ⁻¹(α^{1/n}) = ${cap}`);
  assert.ok(accuracy[2] >= 0.6, `certified accuracy at radius 0.5: ${accuracy[2]}`);
  // No certificate can reach 0.75 with n = 1,000 at σ = 0.25 (the cap is ≈ 0.616).
  assert.equal(accuracy[3], 0);
  for (let i = 1; i < radii.length; i++) assert.ok(accuracy[i] <= accuracy[i - 1]);
  await model.release();
});

test("aegis certify prints certified accuracy per radius as JSON and writes a Markdown report", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-certify-"));
  const out = join(dir, "report.md");
  const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
  const write = process.stdout.write;
  let printed = "";
  // Commands print strings; the test runner's own binary messages pass through.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
    if (typeof chunk !== "string") return write.call(process.stdout, chunk, ...rest);
    printed += chunk;
    return true;
  }) as typeof process.stdout.write;
  try {
    await certifyCommand().parseAsync(
      ["--model", demo, "--sigma", "0.25", "--n", "300", "--n0", "50", "--limit", "6", "--radii", "0,0.5", "--batch-size", "150", "--out", out, "--json"],
      { from: "user" },
    );
  } finally {
    process.stdout.write = write;
  }
  const report = JSON.parse(printed) as CertifyReport;
  assert.equal(report.samples, 6);
  assert.equal(report.certificates.length, 6);
  assert.deepEqual(
    report.certified_accuracy.map((c) => c.radius),
    [0, 0.5],
  );
  assert.ok(report.certified_accuracy[1].accuracy <= report.certified_accuracy[0].accuracy);
  close(report.max_radius, maximumRadius(0.25, 300, 0.001), 1e-15, "max radius");
  for (const c of report.certificates) assert.ok(c.radius <= report.max_radius + 1e-12);
  assert.match(readFileSync(out, "utf8"), /\| 0\.5 \| \d+\.\d% \|/);
  await assert.rejects(certifyCommand().parseAsync(["--model", demo, "--sigma", "0.25", "--radii", "a,b"], { from: "user" }), /--radii/);
});
