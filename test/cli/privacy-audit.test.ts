/**
 * `aegis privacy audit` through the real binary: a small audit of a correct DP-SGD writes its
 * reports and exits 0 with an info finding; the errors a user can cause exit 2 with a sentence.
 * (The broken DP-SGD it must catch has no flag: test/privacy/canary-audit.test.ts reaches it.)
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { aegis } from "../helpers/cli.js";

const out = mkdtempSync(join(tmpdir(), "aegis-privacy-audit-"));

test("privacy audit trains once with canaries and reports the measured ε beside the accountant's", async () => {
  const args = ["privacy", "audit", "--samples", "200", "--canaries", "100", "--noise-multiplier", "2", "--epochs", "2", "--seed", "4"];
  const run = await aegis([...args, "--format", "json,sarif", "--out", out]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /measured ε ≥ \d\.\d{3} at 95% confidence · accountant's ε = \d+\.\d{3} at δ = 0\.00001/);
  assert.match(run.stdout, /\[info\] DP-AUDIT/);
  const report = JSON.parse(readFileSync(join(out, "privacy-audit.json"), "utf8"));
  assert.equal(report.canaries, 100);
  assert.deepEqual(
    report.outcomes.map((o: { perSide: number }) => o.perSide),
    [5, 10, 25, 50],
  );
  assert.ok(report.epsilonLower >= 0 && report.epsilonLower < report.claimedEpsilon, JSON.stringify(report));
  assert.equal(report.violated, false);
  assert.equal(report.finding.rule, "DP-AUDIT");
  const sarif = JSON.parse(readFileSync(join(out, "privacy-audit.sarif"), "utf8"));
  assert.equal(sarif.runs[0].results[0].ruleId, "DP-AUDIT");
});

test("privacy audit trains the architecture of a PyTorch model given with --like, and refuses one with BatchNorm", async () => {
  const fixtures = new URL("../../fixtures/models/", import.meta.url).pathname;
  const args = ["privacy", "audit", "--samples", "200", "--canaries", "100", "--noise-multiplier", "2", "--epochs", "1", "--seed", "1"];
  const run = await aegis([...args, "--like", `${fixtures}cnn_maxpool.onnx`]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /auditing DP-SGD on the architecture of cnn_maxpool\.onnx: 200 training rows/);
  assert.match(run.stdout, /\[info\] DP-AUDIT/);
  const bn = await aegis([...args, "--like", `${fixtures}mnist_resnet_bn.onnx`]);
  assert.equal(bn.code, 7);
  assert.match(bn.stderr, /BatchNorm layers \(stem_bn.*GroupNorm/);
});

test("privacy audit refuses too many canaries, guesses beyond half of them, and a missing σ", async () => {
  const tooMany = await aegis(["privacy", "audit", "--samples", "7900", "--canaries", "500", "--noise-multiplier", "1"]);
  assert.equal(tooMany.code, 2);
  assert.match(tooMany.stderr, /--samples 7900 leaves 100 for --canaries 500/);
  const guesses = await aegis(["privacy", "audit", "--samples", "200", "--canaries", "100", "--guesses", "60", "--noise-multiplier", "1"]);
  assert.equal(guesses.code, 2);
  assert.match(guesses.stderr, /--guesses k must be a whole number from 1 to 50/);
  const sigma = await aegis(["privacy", "audit", "--samples", "200", "--canaries", "100"]);
  assert.equal(sigma.code, 2);
  assert.match(sigma.stderr, /either --noise-multiplier/);
  assert.doesNotMatch(sigma.stderr, /at .*\.ts:\d+/);
});
