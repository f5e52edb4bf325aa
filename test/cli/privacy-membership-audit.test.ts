/**
 * `aegis privacy audit --membership` through the real binary, on 300 MNIST members: the
 * non-private twin leaks more than the DP model at ε 1, the DP model stays within
 * TPR ≤ e^ε·FPR + δ, and the reports validate. (The broken DP-SGD it must catch has no flag:
 * test/privacy/membership-audit.test.ts reaches it.)
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { aegis } from "../helpers/cli.js";
import { sarifValidator, schemaValidator } from "../helpers/schemas.js";

const out = mkdtempSync(join(tmpdir(), "aegis-privacy-membership-"));
const SMALL = ["privacy", "audit", "--membership", "--samples", "300", "--shadows", "2", "--epochs", "20", "--twin-lr", "0.1", "--seed", "3"];

interface Leakage {
  model: string;
  test_accuracy: number;
  attacks: { attack: string; auc: number; tpr_at_low_fpr: { fpr: number; tpr: number }[] }[];
}

test("privacy audit --membership attacks DP-SGD at ε 1 and its non-private twin, and checks the DP model against e^ε·FPR + δ", async () => {
  const run = await aegis([...SMALL, "--target-epsilon", "1", "--format", "json,sarif,md,html", "--out", out]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stderr, /membership audit of DP-SGD on mlp: 300 members, 300 non-members and 7400 reference rows of mnist-train, 2 shadow models/);
  assert.match(run.stdout, /bound of \(ε, δ\)-DP: TPR ≤ e\^ε·FPR \+ δ = {3}0\.3% at 0\.1% FPR, {3}2\.7% at 1% FPR/);
  assert.match(run.stdout, /bound checks on the DP model, 95% confidence over all 8: all within the bound/);
  assert.match(run.stdout, /\[info\] DP-MEMBERSHIP/);

  const report = JSON.parse(readFileSync(join(out, "privacy-membership-audit.json"), "utf8"));
  assert.equal(report.members, 300);
  assert.equal(report.nonMembers, 300);
  assert.equal(report.shadows, 2);
  assert.ok(Math.abs(report.claimedEpsilon - 1) < 0.01, String(report.claimedEpsilon));
  const [dp, twin] = report.models as Leakage[];
  assert.deepEqual([dp.model, twin.model], ["dp-sgd", "non-private"]);
  const auc = (m: Leakage, attack: string) => m.attacks.find((a) => a.attack === attack)?.auc ?? Number.NaN;
  // Measured: loss AUC 0.518 with DP, 0.599 without; LiRA 0.518 and 0.639.
  assert.ok(auc(twin, "loss") > auc(dp, "loss") + 0.04, `${auc(twin, "loss")} vs ${auc(dp, "loss")}`);
  assert.ok(auc(twin, "lira-offline") > auc(dp, "lira-offline") + 0.04, `${auc(twin, "lira-offline")} vs ${auc(dp, "lira-offline")}`);
  assert.ok(auc(dp, "loss") < 0.56 && auc(dp, "lira-offline") < 0.56);
  assert.ok(twin.test_accuracy > 0.6, String(twin.test_accuracy));
  assert.equal(report.checks.length, 8);
  assert.equal(report.violated, false);
  for (const c of report.checks) {
    assert.ok(c.fpr <= c.at && c.tpr >= 0 && c.tpr <= 1, JSON.stringify(c));
    assert.ok(Math.abs(c.bound - Math.min(1, Math.exp(report.claimedEpsilon) * c.fpr + report.delta)) < 1e-12, JSON.stringify(c));
    assert.ok(c.pValue > 0.01, JSON.stringify(c));
  }

  const finding = schemaValidator("finding.schema.json");
  assert.ok(finding(report.finding), JSON.stringify(finding.errors));
  assert.equal(report.finding.rule, "DP-MEMBERSHIP");
  assert.equal(report.finding.severity, "info");
  const sarif = JSON.parse(readFileSync(join(out, "privacy-membership-audit.sarif"), "utf8")) as { runs: { results: { ruleId: string }[] }[] };
  const validSarif = sarifValidator();
  assert.ok(validSarif(sarif), JSON.stringify(validSarif.errors));
  assert.equal(sarif.runs[0].results[0].ruleId, "DP-MEMBERSHIP");
  assert.match(readFileSync(join(out, "privacy-membership-audit.md"), "utf8"), /^# Aegis DP membership audit: mlp on mnist-train[\s\S]*DP-MEMBERSHIP/);
  assert.match(readFileSync(join(out, "privacy-membership-audit.html"), "utf8"), /<h1>Aegis DP membership audit: mlp on mnist-train<\/h1>/);
});

test("privacy audit --membership refuses canary flags, membership flags without it, and too few rows for members, non-members and shadow data", async () => {
  const canaries = await aegis([...SMALL, "--noise-multiplier", "1", "--canaries", "100"]);
  assert.equal(canaries.code, 2);
  assert.match(canaries.stderr, /--canaries, --canary-kind and --guesses are for the canary audit; drop them with --membership/);
  const rows = await aegis(["privacy", "audit", "--membership", "--samples", "3000", "--noise-multiplier", "1"]);
  assert.equal(rows.code, 2);
  assert.match(
    rows.stderr,
    /mnist-train has 8000 rows: --membership needs --samples 3000 members, as many non-members and at least as many shadow-training rows \(9000\)/,
  );
  assert.doesNotMatch(rows.stderr, /at .*\.ts:\d+/);
  const stray = await aegis(["privacy", "audit", "--shadows", "2", "--noise-multiplier", "1"]);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /--shadows and --twin-lr configure the membership audit; add --membership/);
});
