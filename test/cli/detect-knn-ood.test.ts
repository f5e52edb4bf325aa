/**
 * `aegis detect fit --detector knn-ood` and `aegis detect score` through the real binary: a
 * k-NN out-of-distribution detector fitted on MNIST training digits (bank and threshold from
 * disjoint rows) keeps its false-positive rate on the test digits and flags uniform noise
 * and random shapes; bad settings and another model exit with their documented codes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { shapesStream, stack, uniformNoiseStream } from "../../bench/extraction-streams.js";
import type { DetectionReport } from "../../src/cli/commands/detect.js";
import { saveNpz } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { saveModel } from "../../src/onnx/io.js";
import { tensor } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "aegis-detect-knn-"));

function saveSet(name: string, rows: Float32Array[]): string {
  const path = join(dir, `${name}.npz`);
  // The loader wants labels (--y-key); class 0 stands in, OOD inputs have none.
  saveNpz(path, { x: stack(rows), y: tensor("int64", [rows.length], new BigInt64Array(rows.length)) });
  return path;
}

test("aegis detect fit --detector knn-ood, then score: about 1% of clean test digits flagged, noise and shapes nearly all", async () => {
  const out = join(dir, "knn.json");
  const fit = await aegis([
    "detect",
    "fit",
    "--model",
    demo,
    "--detector",
    "knn-ood",
    "--samples",
    "3000",
    "--bank-size",
    "2000",
    "--threads",
    "2",
    "--out",
    out,
    "--json",
  ]);
  assert.equal(fit.code, 0, fit.stderr);
  const summary = JSON.parse(fit.stdout);
  assert.equal(summary.detector, "knn-ood");
  assert.equal(summary.fpr, 0.01);
  assert.match(summary.fitted.data, /bank: 2000 of them, threshold: the other 1000/);
  const file = JSON.parse(readFileSync(out, "utf8"));
  assert.deepEqual(file.params, { layer: "m/relu_20", k: 5, dim: 128, size: 2000 });

  const noise = saveSet("noise", uniformNoiseStream(200, createRng(1)));
  const shapes = saveSet("shapes", shapesStream(200, createRng(2)));
  const scored = await aegis(["detect", "score", "--detector", out, "--model", demo, "--adversarial", noise, shapes, "--threads", "2", "--json"]);
  assert.equal(scored.code, 0, scored.stderr);
  const report = JSON.parse(scored.stdout) as DetectionReport;
  assert.equal(report.detector, "knn-ood");
  assert.equal(report.clean.samples, 2000);
  // Threshold at 1% on 1,000 train digits: 3σ of the binomial error is ±1.1 points.
  assert.ok(report.clean.flagged <= 0.025, `clean test digits flagged ${report.clean.flagged}`);
  const [noiseSet, shapesSet] = report.adversarial;
  assert.ok(noiseSet.flagged >= 0.98 && (noiseSet.auroc ?? 0) > 0.99, JSON.stringify(noiseSet));
  assert.ok(shapesSet.flagged >= 0.7 && (shapesSet.auroc ?? 0) > 0.95, JSON.stringify(shapesSet));

  // The same detector in pixel space, with the threshold on other data.
  const pixelsOut = join(dir, "pixels.json");
  const pixels = await aegis([
    "detect",
    "fit",
    "--model",
    demo,
    "--detector",
    "knn-ood",
    "--layer",
    "input",
    "--samples",
    "1000",
    "--calibration-data",
    "mnist",
    "--fpr",
    "0.05",
    "--k",
    "3",
    "--out",
    pixelsOut,
  ]);
  assert.equal(pixels.code, 0, pixels.stderr);
  assert.deepEqual(JSON.parse(readFileSync(pixelsOut, "utf8")).params, { layer: "input", k: 3, dim: 784, size: 1000 });
  const pixelsText = await aegis(["detect", "score", "--detector", pixelsOut, "--model", demo, "--adversarial", shapes, "--samples", "500"]);
  assert.equal(pixelsText.code, 0, pixelsText.stderr);
  assert.match(pixelsText.stdout, /^knn-ood: threshold [\d.]+ \(fitted at 5\.0% false positives\)/);
  assert.match(pixelsText.stdout, /shapes\.npz: 200 samples, flagged (9\d|100)\.\d% \(true-positive rate\)/);

  const other = join(dir, "other.onnx");
  saveModel(other, buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10, seed: 9 }));
  const refused = await aegis(["detect", "score", "--detector", out, "--model", other]);
  assert.equal(refused.code, 4, refused.stderr);
  assert.match(refused.stderr, /fit a detector for this model with aegis detect fit/);
});

test("aegis detect fit --detector knn-ood with no clean data left for the threshold exits 2 and says what to pass", async () => {
  const r = await aegis(["detect", "fit", "--model", demo, "--detector", "knn-ood", "--samples", "100", "--out", join(dir, "x.json")]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /calibration data \(--calibration-data\) or a bank smaller than the data \(--bank-size\)/);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/);
});
