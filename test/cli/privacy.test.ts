/**
 * `aegis privacy epsilon`, `aegis train --dp`, `aegis inspect` and `aegis privacy check`
 * through the real binary: the accountant's reference values (TF Privacy's 0.7242, the
 * tutorial's 3.01 under the older conversion), the inverse, a small DP-SGD run whose model
 * records its guarantee, the findings for a DP and a non-DP model, and the errors a user can cause.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeNpz, loadMnist } from "../../src/data/index.js";
import { sliceRows } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-privacy-"));
const fixtures = new URL("../../fixtures/models/", import.meta.url).pathname;

test("privacy epsilon reproduces TF Privacy's values under both RDP conversions, and solves for σ", async () => {
  const tf = await aegis(["privacy", "epsilon", "--noise-multiplier", "1.3", "--sampling-rate", "0.0025", "--steps", "6000", "--delta", "1e-5"]);
  assert.equal(tf.code, 0, tf.stderr);
  assert.match(tf.stdout, /ε = 0\.7242 at δ = 0\.00001/);

  const tutorial = await aegis([
    "privacy",
    "epsilon",
    "--noise-multiplier",
    "1.1",
    "--sampling-rate",
    String(256 / 60000),
    "--steps",
    "14063",
    "--delta",
    "1e-5",
    "--json",
  ]);
  assert.equal(tutorial.code, 0, tutorial.stderr);
  const r = JSON.parse(tutorial.stdout);
  assert.equal(r.olderConversion.epsilon.toFixed(4), "3.0092");
  assert.ok(r.epsilon < r.olderConversion.epsilon);

  const inverse = await aegis([
    "privacy",
    "epsilon",
    "--target-epsilon",
    "1",
    "--sampling-rate",
    String(256 / 60000),
    "--epochs",
    "15",
    "--delta",
    "1e-5",
    "--json",
  ]);
  assert.equal(inverse.code, 0, inverse.stderr);
  const solved = JSON.parse(inverse.stdout);
  assert.equal(solved.steps, Math.round(15 / (256 / 60000)));
  assert.ok(solved.epsilon <= 1 && solved.epsilon > 0.99, `σ ${solved.noiseMultiplier} spends ${solved.epsilon}`);

  const prv = await aegis([
    "privacy",
    "epsilon",
    "--noise-multiplier",
    "1.3",
    "--sampling-rate",
    "0.0025",
    "--steps",
    "6000",
    "--delta",
    "1e-5",
    "--accountant",
    "prv",
    "--json",
  ]);
  assert.equal(prv.code, 0, prv.stderr);
  const tight = JSON.parse(prv.stdout);
  assert.ok(tight.lower < tight.estimate && tight.epsilon < 0.7242, JSON.stringify(tight));

  for (const args of [
    ["--sampling-rate", "0.01", "--steps", "10", "--delta", "1e-5"],
    ["--noise-multiplier", "1", "--sampling-rate", "2", "--steps", "10", "--delta", "1e-5"],
    ["--noise-multiplier", "1", "--sampling-rate", "0.01", "--steps", "10", "--delta", "1e-5", "--accountant", "moments"],
  ]) {
    const bad = await aegis(["privacy", "epsilon", ...args]);
    assert.equal(bad.code, 2, `${args.join(" ")}: ${bad.stderr}`);
    assert.doesNotMatch(bad.stderr, /at .*\.ts:/);
  }
});

test("train --dp writes a model that records its (ε, δ); inspect shows it and privacy check reports the seeded noise", async () => {
  const { train } = loadMnist();
  const data = join(tmp, "train.npz");
  writeFileSync(data, encodeNpz({ x: sliceRows(train.x, 0, 500), y: sliceRows(train.y, 0, 500) }));
  const out = join(tmp, "dp.onnx");
  const run = await aegis([
    "train",
    "--arch",
    "mlp",
    "--dataset",
    data,
    "--test-data",
    data,
    "--epochs",
    "1",
    "--batch-size",
    "50",
    "--optimizer",
    "sgd",
    "--momentum",
    "0",
    "--lr",
    "0.5",
    "--dp",
    "--noise-multiplier",
    "1.2",
    "--noise-seed",
    "4",
    "--out",
    out,
    "--json",
  ]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /DP-SGD: σ 1\.2 · C 1 · Poisson sampling q = 0\.1 \(expected batch 50 of 500\) · 10 steps per epoch/);
  assert.match(run.stderr, /epoch 1\/1: .*ε \d\.\d{3} spent \(δ 0\.00001\)/);
  const record = JSON.parse(run.stdout).differentialPrivacy;
  assert.deepEqual(
    { ...record, epsilon: undefined },
    {
      mechanism: "dp-sgd",
      epsilon: undefined,
      delta: 1e-5,
      noiseMultiplier: 1.2,
      maxGradNorm: 1,
      samplingRate: 0.1,
      steps: 10,
      accountant: "rdp",
      noiseSeeded: true,
    },
  );

  const inspect = await aegis(["inspect", out]);
  assert.equal(inspect.code, 0, inspect.stderr);
  assert.match(inspect.stdout, new RegExp(`privacy +\\(ε = ${record.epsilon.toFixed(2)}, δ = 0\\.00001\\)-DP by DP-SGD .* SEEDED NOISE`));

  const reports = join(tmp, "reports");
  const check = await aegis(["privacy", "check", out, "--format", "md,sarif", "--out", reports, "--json"]);
  assert.equal(check.code, 0, check.stderr);
  const rules = JSON.parse(check.stdout).findings.map((f: { rule: string; severity: string }) => `${f.rule}:${f.severity}`);
  assert.deepEqual(rules, ["DP-SEEDED-NOISE:critical"]);
  assert.match(readFileSync(join(reports, "privacy.md"), "utf8"), /\[CRITICAL\] The model's DP noise was drawn from a seed/);
  assert.equal(JSON.parse(readFileSync(join(reports, "privacy.sarif"), "utf8")).runs[0].results[0].ruleId, "DP-SEEDED-NOISE");

  const plain = await aegis(["privacy", "check", join(fixtures, "tabular_mlp.onnx")]);
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /no differential-privacy guarantee recorded\nfindings: 1 medium\n {2}\[medium\] DP-NO-GUARANTEE/);
});

test("train refuses DP flags without --dp, and DP-SGD on a model with BatchNorm", async () => {
  const flags = await aegis(["train", "--arch", "mlp", "--noise-multiplier", "1", "--out", join(tmp, "x.onnx")]);
  assert.equal(flags.code, 2, flags.stderr);
  assert.match(flags.stderr, /add --dp/);
  const { train } = loadMnist();
  const data = join(tmp, "small.npz");
  writeFileSync(data, encodeNpz({ x: sliceRows(train.x, 0, 200), y: sliceRows(train.y, 0, 200) }));
  const bn = await aegis([
    "train",
    "--like",
    join(fixtures, "mnist_resnet_bn.onnx"),
    "--dataset",
    data,
    "--dp",
    "--noise-multiplier",
    "1",
    "--out",
    join(tmp, "bn.onnx"),
  ]);
  assert.equal(bn.code, 7, bn.stderr);
  assert.match(bn.stderr, /BatchNorm layers \(.*stem_bn.*\).*GroupNorm/);
});
