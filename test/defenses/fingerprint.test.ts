/**
 * Fingerprinting at small scale, with the bench's protocol: a small MNIST MLP victim; the
 * owner makes the fingerprint from digits the victim never saw, its references from other
 * digits of full MNIST; then, apart and afterwards, two extraction copies (Copycat and
 * Knockoff, 2,000 probability queries on digits the victim never saw), a Copycat copy from
 * 2,000 label-only queries, and two models trained independently on the true labels of other
 * digits with other seeds. The fingerprint must verify both probability copies and neither
 * independent model, at a threshold set from its own held-out ensemble alone, and the
 * label-only copy must match more points than either independent model (it verifies here
 * only at the threshold's edge, so that is not asserted); the bench does the same for the
 * bundled CNN.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { copycat, knockoff } from "../../src/attacks/index.js";
import {
  defend,
  FINGERPRINT_DEFAULTS,
  fingerprintFindings,
  independentNull,
  labelsOnly,
  loadFingerprint,
  makeFingerprint,
  poissonBinomialTail,
  predictionMultiplier,
  saveFingerprint,
  verifyFingerprint,
} from "../../src/defenses/index.js";
import { AegisError } from "../../src/errors.js";
import { labelsOf } from "../../src/tensor.js";
import { heldOut, referenceData, stealMlp, trainMlp } from "../helpers/fingerprint-setup.js";

test("the null of independent models: Student's t prediction bound over the references' spread, never below one model's binomial spread", () => {
  // Version 2 files still verify by the Poisson-binomial tail, the binomial's when every chance is equal.
  assert.deepEqual(
    poissonBinomialTail([0.5, 0.5, 0.5, 0.5]).map((t) => t * 16),
    [16, 15, 11, 5, 1, 0],
  );
  // t(0.99; 5) = 3.3649 (tables), widened by √(1 + 1/6) for one new model; with many references it tends to Φ⁻¹(0.975) = 1.96.
  assert.ok(Math.abs(predictionMultiplier(6, 0.01) - 3.3649 * Math.sqrt(7 / 6)) < 1e-3);
  assert.ok(Math.abs(predictionMultiplier(100001, 0.025) - 1.95996) < 1e-3);
  const spread = independentNull(
    [
      [1, 1, 0, 0],
      [1, 0, 0, 0],
      [1, 1, 1, 0],
    ],
    4,
  );
  assert.equal(spread.mean, 0.5);
  assert.ok(Math.abs(spread.sd - 0.25) < 1e-12, "the sample standard deviation of 50%, 25% and 75%");
  const alike = independentNull(
    [
      [1, 0, 1, 0],
      [0, 1, 0, 1],
    ],
    4,
  );
  assert.ok(Math.abs(alike.sd - 0.25) < 1e-12, "two references at 50% on 4 points: the binomial spread √(½·½/4), not 0");
  assert.ok(
    independentNull(
      [
        [0, 0],
        [0, 0],
        [0, 0],
      ],
      2,
    ).sd > 0,
    "never a zero spread, which would accuse at one match",
  );
});

test("a fingerprint verifies held-out extraction copies and no held-out independent model, at a threshold set without them", async (t) => {
  const victim = await trainMlp(0, 4000, 0);
  const owner = { x: heldOut.x, labels: labelsOf(heldOut.y) };
  const fingerprint = await makeFingerprint(
    victim,
    owner,
    { ...FINGERPRINT_DEFAULTS, count: 50, candidates: 300, surrogates: 2, references: 2, calibrationReferences: 5, epochs: 5 },
    { victimName: "victim.onnx", referenceData },
  );
  const c = fingerprint.calibration;
  t.diagnostic(`threshold ${fingerprint.threshold}/50, calibration ${JSON.stringify(c)}`);
  assert.equal(fingerprint.labels.length, 50);
  assert.equal(fingerprint.version, 3);
  // The threshold is the prediction bound over the held-out calibration references alone: no suspect below took part.
  const independent = fingerprint.independent;
  assert.ok(independent);
  assert.equal(independent.references, 5);
  assert.ok(Math.abs(independent.mean - c.references.reduce((s, r) => s + r, 0) / 5) < 1e-12);
  assert.equal(fingerprint.threshold, Math.ceil(50 * (independent.mean + predictionMultiplier(5, fingerprint.alpha) * independent.sd) - 1e-9));
  assert.ok(Math.min(...c.surrogates) * 50 >= fingerprint.threshold, "the held-out surrogates verify");
  const victimVerdict = await verifyFingerprint(victim, fingerprint);
  assert.equal(victimVerdict.matches, 50, "the victim itself gives every fingerprint label");

  const copyRates: number[] = [];
  for (const [i, attack] of [copycat, knockoff].entries()) {
    const copy = await stealMlp(attack, victim, 30 + i);
    const verdict = await verifyFingerprint(copy.result.stolen, fingerprint);
    t.diagnostic(`${attack.name} copy: fidelity ${copy.report.fidelity}, ${verdict.matches}/50, p ${verdict.pValue}`);
    assert.ok(verdict.stolen, `the ${attack.name} copy matches ${verdict.matches}, below the threshold ${verdict.threshold}`);
    assert.ok(verdict.pValue < fingerprint.alpha);
    if (i === 0) assert.equal(fingerprintFindings(verdict, fingerprint, "copy.onnx")[0].severity, "high");
    copyRates.push(verdict.matchingRate);
    await copy.result.stolen.release();
  }
  // A thief who sees the top label alone learns far less of the boundary than one who sees probabilities.
  const labelCopy = await stealMlp(copycat, defend(victim, { postprocessors: [labelsOnly()] }), 32);
  const labelVerdict = await verifyFingerprint(labelCopy.result.stolen, fingerprint);
  t.diagnostic(`label-only copy: fidelity ${labelCopy.report.fidelity}, ${labelVerdict.matches}/50, p ${labelVerdict.pValue}`);
  await labelCopy.result.stolen.release();

  for (const seed of [11, 12]) {
    const independent = await trainMlp(6000, 8000, seed);
    const verdict = await verifyFingerprint(independent, fingerprint);
    t.diagnostic(`independent ${seed}: ${verdict.matches}/50, p ${verdict.pValue}`);
    assert.ok(!verdict.stolen, `independent model ${seed} matches ${verdict.matches}, at or above the threshold ${verdict.threshold}`);
    assert.ok(verdict.matchingRate < Math.min(...copyRates));
    assert.ok(verdict.matches < labelVerdict.matches, `independent model ${seed} matches ${verdict.matches}, the label-only copy ${labelVerdict.matches}`);
    await independent.release();
  }

  const dir = mkdtempSync(join(tmpdir(), "aegis-fp-"));
  saveFingerprint(join(dir, "fp.json"), fingerprint);
  const loaded = loadFingerprint(join(dir, "fp.json"));
  assert.deepEqual(loaded.labels, fingerprint.labels);
  assert.deepEqual(Array.from(loaded.x.data), Array.from(fingerprint.x.data));
  const victimAgain = await verifyFingerprint(victim, loaded);
  assert.equal(victimAgain.matches, 50);
  assert.ok(victimAgain.pValue <= loaded.alpha && victimAgain.stolen);
  // A version 2 file (no spread between references) still verifies, by the per-point Poisson-binomial null.
  const { independent: _, ...stored } = JSON.parse(readFileSync(join(dir, "fp.json"), "utf8"));
  writeFileSync(join(dir, "v2.json"), JSON.stringify({ ...stored, version: 2 }));
  const old = await verifyFingerprint(victim, loadFingerprint(join(dir, "v2.json")));
  assert.equal(old.pValue, poissonBinomialTail(fingerprint.nullMatch)[50]);
  writeFileSync(join(dir, "v3-without-null.json"), JSON.stringify({ ...stored, version: 3 }));
  assert.throws(
    () => loadFingerprint(join(dir, "v3-without-null.json")),
    (e) => e instanceof AegisError && e.code === "BAD_DATA" && /"independent"/.test(e.message),
  );
  writeFileSync(join(dir, "cut.json"), JSON.stringify({ format: "aegis-fingerprint", version: 1, inputShape: [1, 28, 28], numClasses: 10 }));
  assert.throws(
    () => loadFingerprint(join(dir, "cut.json")),
    (e) => e instanceof AegisError && e.code === "BAD_DATA",
  );
  await victim.release();
});
