/** `aegis threat init → analyze → ir-plan` end to end through the real binary, on a bundled template. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { ThreatModel } from "../../src/threat/types.js";
import { aegis } from "../helpers/cli.js";
import { sarifValidator } from "../helpers/schemas.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-threat-cli-"));

/** An `aegis attack --json` report of an undefended model: PGD at ε=0.3 leaves 2% of 98%. */
const attackReport = {
  attack: "pgd",
  paper: "Madry et al. 2018",
  params: { eps: [0.3], norm: "inf", targeted: false },
  samples: 100,
  clean_accuracy: 0.98,
  robust_accuracy: 0.02,
  success_rate: 0.98,
  perturbation: { linf_mean: 0.3, linf_median: 0.3, l2_mean: 5, l2_median: 5, l0_mean: 600, l0_median: 600 },
  queries: null,
  seconds: 3,
  curve: [
    {
      eps: 0.3,
      robust_accuracy: 0.02,
      success_rate: 0.98,
      perturbation: { linf_mean: 0.3, linf_median: 0.3, l2_mean: 5, l2_median: 5, l0_mean: 600, l0_median: 600 },
      queries: null,
      seconds: 3,
    },
  ],
};

test("init writes a template and will not overwrite without --force", async () => {
  const r = await aegis(["threat", "init", "--template", "llm-chatbot"], { cwd: tmp });
  assert.equal(r.code, 0, r.stderr);
  const text = readFileSync(join(tmp, "system.yaml"), "utf8");
  assert.match(text, /components:/);
  const again = await aegis(["threat", "init", "--template", "rag-assistant"], { cwd: tmp });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exists; pass --force/);
  assert.equal(readFileSync(join(tmp, "system.yaml"), "utf8"), text, "the file is untouched");
  const unknown = await aegis(["threat", "init", "--template", "toaster", "--out", "x.yaml"], { cwd: tmp });
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /image-classifier-api/);
  assert.ok(!existsSync(join(tmp, "x.yaml")));
});

test("init → analyze --evidence → ir-plan on the image-classifier template", async () => {
  const dir = mkdtempSync(join(tmp, "flow-"));
  assert.equal((await aegis(["threat", "init", "--template", "image-classifier-api", "--out", "system.yaml"], { cwd: dir })).code, 0);
  writeFileSync(join(dir, "pgd.json"), JSON.stringify(attackReport));

  const r = await aegis(["threat", "analyze", "system.yaml", "--evidence", "pgd.json", "--out", "tm"], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\d+ threats — \d+ critical, \d+ high, \d+ medium, \d+ low/);
  assert.match(r.stdout, /top risks:/);
  assert.deepEqual(readdirSync(join(dir, "tm")).sort(), [
    "risk-register.csv",
    "threat-model.html",
    "threat-model.json",
    "threat-model.md",
    "threat-model.sarif",
  ]);

  const model: ThreatModel = JSON.parse(readFileSync(join(dir, "tm", "threat-model.json"), "utf8"));
  assert.ok(model.threats.length > 0);
  const evasion = model.threats.filter((t) => t.owasp_ml.includes("ML01"));
  assert.ok(evasion.length > 0, "an image classifier API has an evasion threat");
  assert.ok(evasion.every((t) => t.status === "tested-vulnerable" && t.evidence[0].kind === "attack"));
  assert.ok(model.threats.some((t) => t.status === "untested"));

  const sarif = JSON.parse(readFileSync(join(dir, "tm", "threat-model.sarif"), "utf8"));
  assert.equal(sarif.version, "2.1.0");
  assert.equal(sarif.runs[0].results.length, model.threats.length);
  assert.ok(sarif.runs[0].tool.driver.rules.length > 0);
  assert.equal(sarif.runs[0].results[0].locations[0].physicalLocation.artifactLocation.uri, "system.yaml");

  const csv = readFileSync(join(dir, "tm", "risk-register.csv"), "utf8");
  const lines = csv.split("\r\n").filter(Boolean);
  assert.match(lines[0], /^id,title,target,kind,stride,atlas,owasp_ml,owasp_llm,nist_class,likelihood,impact,risk,level,status/);
  // Titles hold no line breaks, so one CSV line per threat.
  assert.equal(lines.length, 1 + model.threats.length);

  const html = readFileSync(join(dir, "tm", "threat-model.html"), "utf8");
  assert.match(html, /<svg class="dfd"/);
  assert.match(readFileSync(join(dir, "tm", "threat-model.md"), "utf8"), /## By NIST AI RMF function/);

  const plan = await aegis(["threat", "ir-plan", "system.yaml", "--out", "plan.md"], { cwd: dir });
  assert.equal(plan.code, 0, plan.stderr);
  const text = readFileSync(join(dir, "plan.md"), "utf8");
  const serious = model.threats.filter((t) => t.level === "high" || t.level === "critical").length;
  assert.equal((text.match(/^## \d+\. /gm) ?? []).length, serious);
  assert.match(text, /### Detection signals/);
});

test("analyze --format and --json; bad options and missing evidence are user errors", async () => {
  const dir = mkdtempSync(join(tmp, "opts-"));
  assert.equal((await aegis(["threat", "init", "--template", "llm-chatbot"], { cwd: dir })).code, 0);
  const r = await aegis(["threat", "analyze", "system.yaml", "--format", "csv,sarif,junit", "--out", "only", "--json"], { cwd: dir });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(join(dir, "only")).sort(), ["risk-register.csv", "threat-model.junit.xml", "threat-model.sarif"]);
  const validSarif = sarifValidator();
  assert.ok(validSarif(JSON.parse(readFileSync(join(dir, "only", "threat-model.sarif"), "utf8"))), JSON.stringify(validSarif.errors));
  const model: ThreatModel = JSON.parse(r.stdout);
  assert.ok(
    model.threats.some((t) => t.owasp_llm.includes("LLM01")),
    "an LLM with tools has prompt injection",
  );

  const bad = await aegis(["threat", "analyze", "system.yaml", "--format", "pdf"], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--format takes a comma-separated list of md, html, json, sarif, csv, junit, not "pdf"/);
  const missing = await aegis(["threat", "analyze", "system.yaml", "--evidence", "nope.json"], { cwd: dir });
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /nope\.json/);
});
