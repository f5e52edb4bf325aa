/**
 * `aegis audit --privacy` end to end through the real binary: an MLP overfit on 100 MNIST
 * digits is audited with FGSM and the membership-inference section. The cheap attacks run
 * by default and find the leak; with shadow models offline LiRA joins them; the finding sits
 * among the audit's under ML04 / AML.T0024.000, in every format, and `aegis threat analyze
 * --evidence` takes the report as membership evidence. Flags that need one another exit 2.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { AuditReport } from "../../src/audit/types.js";
import { aegis } from "../helpers/cli.js";
import { writeOverfitMlp } from "../helpers/overfit-mlp.js";
import { schemaValidator } from "../helpers/schemas.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-audit-privacy-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const validate = schemaValidator("audit-report.schema.json");
const modelPath = join(dir, "overfit.onnx");
await writeOverfitMlp(modelPath);

const audit = (out: string, ...extra: string[]) =>
  aegis([
    "audit",
    "--model",
    modelPath,
    "--attacks",
    "fgsm",
    "--eps",
    "0.1",
    "--samples",
    "20",
    "--out",
    out,
    "--privacy",
    "--members",
    "mnist:train:0-100",
    "--non-members",
    "mnist:test:0-300",
    "--reference",
    "mnist:train:4000-5000",
    ...extra,
  ]);

test("audit --privacy adds a membership-inference section with the cheap attacks, its finding under ML04 / AML.T0024.000, in every format", async () => {
  const out = join(dir, "cheap");
  const r = await audit(out, "--format", "json,md,html,sarif");
  assert.equal(r.code, 0, r.stderr);
  const report: AuditReport = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.equal(report.attacks[0].id, "fgsm", "the evasion suite still runs");
  const privacy = report.privacy;
  assert.ok(privacy, "a privacy section");
  assert.deepEqual(
    privacy.membership.attacks.map((a) => a.attack),
    ["loss", "confidence", "label-only"],
  );
  assert.equal(privacy.membership.shadow, null, "no shadow models unless asked");
  assert.equal(privacy.data.members, "mnist-train rows 0-100");
  // 100 digits memorised for 30 epochs: the loss alone tells many of them apart.
  const loss = privacy.membership.attacks[0];
  assert.ok(loss.auc > 0.7, `loss-threshold AUC ${loss.auc}`);
  assert.equal(privacy.membership.target.member_accuracy, 1);

  const finding = report.findings.find((f) => f.rule === "AEGIS-PRIVACY-MEMBERSHIP");
  assert.ok(finding, "the leak is a finding of the audit");
  assert.equal(finding.capability, "inference");
  assert.ok(["medium", "high"].includes(finding.severity), finding.severity);
  assert.deepEqual(
    ["ML04", "AML.T0024.000"].filter((id) => finding.references.some((ref) => ref.id === id)),
    ["ML04", "AML.T0024.000"],
  );
  assert.match(r.stderr, /privacy: membership inference \(loss, confidence, label-only\) on 100 members and 300 non-members/);
  assert.match(r.stdout, /privacy loss\s+AUC 0\.\d{3}, TPR \d+\.\d% at 0\.1% FPR/);
  assert.match(readFileSync(join(out, "report.md"), "utf8"), /## Privacy: membership inference[\s\S]*\| Loss threshold \|/);
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.match(html, /<h2>Privacy: membership inference<\/h2>/);
  assert.match(html, /aria-label="ROC curves on log axes"/);
  const sarif = JSON.parse(readFileSync(join(out, "report.sarif"), "utf8"));
  assert.ok(sarif.runs[0].results.some((x: { ruleId: string }) => x.ruleId === "AEGIS-PRIVACY-MEMBERSHIP"));

  // The audit report is membership evidence for the threat model.
  const system = join(dir, "system.yaml");
  assert.equal((await aegis(["threat", "init", "--out", system])).code, 0);
  const threat = await aegis(["threat", "analyze", system, "--evidence", join(out, "report.json"), "--json", "--out", join(dir, "threat")]);
  assert.equal(threat.code, 0, threat.stderr);
  const threats: { atlas: string[]; status: string; evidence: { kind: string }[] }[] = JSON.parse(threat.stdout).threats;
  const membership = threats.filter((t) => t.atlas.includes("AML.T0024.000"));
  assert.ok(membership.length > 0);
  for (const t of membership) {
    assert.equal(t.status, "tested-vulnerable");
    assert.ok(t.evidence.some((e) => e.kind === "membership"));
  }
});

test("audit --privacy --shadows adds offline LiRA and RMIA, trained on the reference data", async () => {
  const out = join(dir, "shadows");
  const r = await audit(out, "--shadows", "2", "--shadow-epochs", "30", "--shadow-batch-size", "32", "--privacy-attacks", "loss,lira-offline", "--json");
  assert.equal(r.code, 0, r.stderr);
  const report: AuditReport = JSON.parse(r.stdout);
  assert.ok(validate(report), JSON.stringify(validate.errors));
  const membership = report.privacy?.membership;
  assert.deepEqual(
    membership?.attacks.map((a) => [a.attack, a.shadow_models]),
    [
      ["loss", 2],
      ["lira-offline", 2],
    ],
  );
  assert.equal(membership?.shadow?.offline_models, 2);
  assert.ok((membership?.attacks[1].auc ?? 0) > 0.7, `offline LiRA AUC ${membership?.attacks[1].auc}`);
  assert.match(r.stderr, /shadow models/);
});

test("privacy flags that need one another exit 2 with the flag to add", async () => {
  const out = join(dir, "bad");
  const stray = await aegis(["audit", "--model", modelPath, "--members", "mnist:train:0-100", "--out", out]);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /--members goes with --privacy: add it/);
  const missing = await aegis(["audit", "--model", modelPath, "--privacy", "--members", "mnist:train:0-100", "--out", out]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--privacy needs --non-members, --reference/);
  const noShadows = await audit(out, "--privacy-attacks", "loss,lira-offline");
  assert.equal(noShadows.code, 2);
  assert.match(noShadows.stderr, /lira-offline needs shadow models: add --shadows N/);
  const badAttack = await audit(out, "--privacy-attacks", "loss,lira");
  assert.equal(badAttack.code, 2);
  assert.match(badAttack.stderr, /--privacy-attacks takes a comma-separated list of .*not "lira"/);
});
