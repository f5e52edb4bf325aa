/**
 * `aegis audit --backdoor poison.json` end to end through the real binary, on the held-out
 * PyTorch backdoor (fixtures/backdoor: a top-left checkerboard → 7, its manifest written by
 * scripts/make_backdoor_fixtures.py, not by Aegis) and its clean twin: the report gains a
 * poisoning section with clean accuracy and attack success beside the FGSM run, a critical
 * finding in every format for the backdoored model and none for the clean one. A manifest
 * that is not one, a missing one, and --backdoor with --compare exit with their codes.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import type { AuditReport } from "../../src/audit/types.js";
import { aegis } from "../helpers/cli.js";
import { schemaValidator } from "../helpers/schemas.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-audit-backdoor-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const validate = schemaValidator("audit-report.schema.json");
const fixture = (name: string) => new URL(`../../fixtures/backdoor/${name}`, import.meta.url).pathname;
const summary = JSON.parse(readFileSync(fixture("summary.json"), "utf8"));
const manifest = fixture("torch_checker.json");

const audit = (model: string, out: string, ...extra: string[]) =>
  aegis(["audit", "--model", fixture(model), "--attacks", "fgsm", "--eps", "0.1", "--samples", "20", "--out", out, "--backdoor", manifest, ...extra]);

test("audit --backdoor reports the held-out backdoor's attack success and clean accuracy beside the evasion run, with a critical finding in every format", async () => {
  const out = join(dir, "backdoored");
  const r = await audit("torch_checker.onnx", out, "--format", "json,md,html,sarif");
  assert.equal(r.code, 0, r.stderr);
  const report: AuditReport = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.equal(report.attacks[0].id, "fgsm", "the evasion suite still runs");
  const section = report.backdoor;
  assert.ok(section, "a backdoor section");
  assert.deepEqual(section.goal, { kind: "backdoor", target: 7, mode: "all-to-one" });
  // All 2,000 test digits: the same numbers PyTorch measured when it built the model (99.8%, 95.1%).
  assert.equal(section.result.samples, 2000);
  assert.ok(Math.abs(section.result.attack_success_rate - summary.models.torch_checker.attack_success_rate) < 0.003);
  assert.ok(Math.abs(section.result.clean_accuracy - summary.models.torch_checker.clean_accuracy) < 0.003);
  const finding = report.findings.find((f) => f.rule === "AEGIS-BACKDOOR-ACTIVE");
  assert.ok(finding, `findings: ${report.findings.map((f) => f.rule).join(", ")}`);
  assert.equal(finding.severity, "critical");
  assert.equal(finding.capability, "poisoning");
  assert.ok(finding.references.some((ref) => ref.id === "AML.T0018.000"));
  assert.match(finding.recommendation, /aegis repair/);
  assert.match(r.stdout, /backdoor\s+99\.\d% +attack success/);
  assert.match(
    readFileSync(join(out, "report.md"), "utf8"),
    /## Poisoning: attack success[\s\S]*\| attack success rate \| 99\.\d% of 1\d{3} triggered inputs classified as class 7 \|/,
  );
  assert.match(readFileSync(join(out, "report.html"), "utf8"), /<h2>Poisoning: attack success<\/h2>/);
  assert.match(readFileSync(join(out, "report.sarif"), "utf8"), /AEGIS-BACKDOOR-ACTIVE/);
});

test("the clean twin, audited against the same manifest, shows the trigger does nothing and has no poisoning finding", async () => {
  const out = join(dir, "clean");
  const r = await audit("torch_clean.onnx", out, "--format", "json");
  assert.equal(r.code, 0, r.stderr);
  const report: AuditReport = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.ok(report.backdoor);
  assert.ok(report.backdoor.result.attack_success_rate < 0.05, `${report.backdoor.result.attack_success_rate}`);
  assert.ok(!report.findings.some((f) => f.capability === "poisoning"));
});

test("a file that is not a poison manifest exits 5, a missing one 3, one for other samples before the suite runs, and --backdoor with --compare 2", async () => {
  const bad = join(dir, "bad.json");
  writeFileSync(bad, JSON.stringify({ format: "something-else" }));
  const notManifest = await aegis(["audit", "--model", fixture("torch_clean.onnx"), "--out", join(dir, "x"), "--backdoor", bad]);
  assert.equal(notManifest.code, 5, notManifest.stderr);
  assert.match(notManifest.stderr, /not a valid poison manifest/);
  const missing = await aegis(["audit", "--model", fixture("torch_clean.onnx"), "--out", join(dir, "y"), "--backdoor", join(dir, "none.json")]);
  assert.equal(missing.code, 3, missing.stderr);
  const colour = join(dir, "colour.json");
  const m = JSON.parse(readFileSync(manifest, "utf8"));
  writeFileSync(colour, JSON.stringify({ ...m, data: { ...m.data, sample_shape: [3, 28, 28] } }));
  const otherShape = await aegis(["audit", "--model", fixture("torch_clean.onnx"), "--out", join(dir, "w"), "--backdoor", colour]);
  assert.equal(otherShape.code, 6, otherShape.stderr);
  assert.match(otherShape.stderr, /poison manifest is for samples of shape \[3, 28, 28\]/);
  assert.ok(!existsSync(join(dir, "w", "report.json")), "it stops before the evasion suite, not after");
  const compare = await aegis([
    "audit",
    "--compare",
    fixture("torch_clean.onnx"),
    fixture("torch_checker.onnx"),
    "--out",
    join(dir, "z"),
    "--backdoor",
    manifest,
  ]);
  assert.equal(compare.code, 2, compare.stderr);
  assert.match(compare.stderr, /--backdoor audits one model/);
});
