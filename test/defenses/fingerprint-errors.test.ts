/**
 * The error-sample fingerprint (method errors, Guan et al.'s SAC-w) at small scale: a small
 * MNIST MLP victim; the owner keeps its mistakes on full MNIST's 10,000 test digits (which it
 * never saw; a 2,000-digit set holds too few of its mistakes to tell a label-only copy from
 * binomial noise) and calibrates on references trained on full MNIST's rows 10,000–13,000 in
 * four sizes; then,
 * apart and afterwards, a Copycat copy from 2,000 probability queries, one from 2,000
 * label-only queries (the copy the conferrable fingerprint cannot be relied on to catch), and
 * independent models trained on the true labels of other digits with other seeds and sizes.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { copycat } from "../../src/attacks/index.js";
import { loadMnistFull } from "../../src/data/index.js";
import {
  defend,
  FINGERPRINT_DEFAULTS,
  fingerprintFindings,
  fitMistakeLine,
  labelsOnly,
  loadFingerprint,
  makeFingerprint,
  saveFingerprint,
  verifyFingerprint,
} from "../../src/defenses/index.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";
import { heldOut, referenceData, stealMlp, trainMlp } from "../helpers/fingerprint-setup.js";

const fullTest = loadMnistFull("test");

test("the line of honest models' repeated mistakes: least squares, s over R − 2, never below one model's binomial spread", () => {
  const fitted = [
    { rows: 1, errorRate: 0.1, repeated: 0.3 },
    { rows: 1, errorRate: 0.2, repeated: 0.5 },
    { rows: 1, errorRate: 0.3, repeated: 0.5 },
    { rows: 1, errorRate: 0.4, repeated: 0.7 },
  ];
  const line = fitMistakeLine(fitted, 10000);
  assert.ok(Math.abs(line.slope - 1.2) < 1e-12 && Math.abs(line.intercept - 0.2) < 1e-12);
  // Residuals −0.02, 0.06, −0.06, 0.02: s² = 0.008 / 2.
  assert.ok(Math.abs(line.sd - Math.sqrt(0.004)) < 1e-12);
  const exact = fitMistakeLine(
    fitted.map((f) => ({ ...f, repeated: 0.2 + f.errorRate })),
    50,
  );
  assert.ok(exact.sd > 0.05, "a perfect fit on 50 mistakes still carries the binomial spread of one model's share");
});

test("method errors identifies a probability copy and a label-only copy and no independent model; an old file still verifies", async (t) => {
  const victim = await trainMlp(0, 4000, 0);
  const fingerprint = await makeFingerprint(
    victim,
    { x: fullTest.x, labels: labelsOf(fullTest.y) },
    { ...FINGERPRINT_DEFAULTS, method: "errors", count: 2000, correct: 1000, calibrationReferences: 8, architecture: "mlp", epochs: 5 },
    { victimName: "victim.onnx", referenceData },
  );
  const sample = fingerprint.mistakes;
  assert.ok(sample);
  assert.equal(fingerprint.version, 4);
  t.diagnostic(`${sample.mistakes} mistakes; line ${JSON.stringify(sample.line)}`);
  assert.equal(fingerprint.labels.length, sample.mistakes + 1000);
  for (let i = 0; i < fingerprint.labels.length; i++) assert.equal(fingerprint.labels[i] !== sample.truth[i], i < sample.mistakes);
  assert.deepEqual(
    sample.line.fitted.map((f) => f.rows),
    [3000, 1500, 750, 375, 3000, 1500, 750, 375],
    "references of four sizes, since an honest competitor's is unknown",
  );
  const victimVerdict = await verifyFingerprint(victim, fingerprint);
  assert.equal(victimVerdict.matches, sample.mistakes);
  assert.equal(victimVerdict.errorRate, 0);

  const runs = [
    { name: "probabilities", api: victim },
    { name: "labels only", api: defend(victim, { postprocessors: [labelsOnly()] }) },
  ];
  for (const [i, run] of runs.entries()) {
    const copy = await stealMlp(copycat, run.api, 30 + i);
    const verdict = await verifyFingerprint(copy.result.stolen, fingerprint);
    t.diagnostic(
      `${run.name} copy: ${verdict.matches}/${verdict.points} repeated, threshold ${verdict.threshold}, error rate ${verdict.errorRate}, p ${verdict.pValue}`,
    );
    assert.ok(verdict.stolen && verdict.pValue < fingerprint.alpha, `the ${run.name} copy repeats ${verdict.matches}, below ${verdict.threshold}`);
    assert.match(fingerprintFindings(verdict, fingerprint, "copy.onnx")[0].detail, /copy\.onnx repeats \d+ of the fingerprinted model's \d+ mistakes/);
    await copy.result.stolen.release();
  }
  for (const [start, end, seed] of [
    [6000, 8000, 11],
    [6000, 8000, 12],
    [4000, 7000, 13],
  ]) {
    const independent = await trainMlp(start, end, seed);
    const verdict = await verifyFingerprint(independent, fingerprint);
    t.diagnostic(
      `independent ${seed}: ${verdict.matches}/${verdict.points} repeated, threshold ${verdict.threshold}, error rate ${verdict.errorRate}, p ${verdict.pValue}`,
    );
    assert.ok(!verdict.stolen && verdict.pValue > fingerprint.alpha, `independent model ${seed} repeats ${verdict.matches}, at or above ${verdict.threshold}`);
    await independent.release();
  }

  const dir = mkdtempSync(join(tmpdir(), "aegis-fp-errors-"));
  saveFingerprint(join(dir, "fp.json"), fingerprint);
  assert.deepEqual(await verifyFingerprint(victim, loadFingerprint(join(dir, "fp.json"))), victimVerdict);
  // A version 3 file (conferrable points, judged by the references' spread) still verifies as before.
  const points = sliceRows(heldOut.x, 0, 20);
  const victimOnPoints = await victim.predict(points);
  const labels = Array.from({ length: 20 }, (_, i) => argmaxRow(victimOnPoints, i));
  saveFingerprint(join(dir, "v3.json"), {
    format: "aegis-fingerprint",
    version: 3,
    papers: [],
    victim: "victim.onnx",
    inputShape: [1, 28, 28],
    numClasses: 10,
    clipRange: [0, 1],
    x: points,
    labels: labels.map((l, i) => (i < 15 ? l : (l + 1) % 10)),
    nullMatch: labels.map(() => 0.5),
    independent: { mean: 0.3, sd: 0.1, references: 6 },
    alpha: 0.01,
    threshold: 14,
    calibration: { surrogates: [], references: [] },
    params: fingerprint.params,
    candidates: { walked: 20, crossed: 20 },
  });
  const old = await verifyFingerprint(victim, loadFingerprint(join(dir, "v3.json")));
  assert.equal(old.matches, 15);
  assert.ok(old.stolen && old.errorRate === undefined);
  await victim.release();
});
