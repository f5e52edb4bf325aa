/**
 * Evidence from Aegis reports: a real audit of the bundled CNN (undefended, so FGSM at
 * ε=0.3 breaks it) marks the evasion threat tested-vulnerable; a hand-written attack report
 * of a robust model marks it tested-mitigated; other threats stay untested and unknown
 * report kinds are skipped with a warning.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { type ExtractionReport, type MembershipReport, type MembershipResult, membershipFindings } from "../../src/attacks/index.js";
import { AegisError } from "../../src/errors.js";
import { attachEvidence, MITIGATED_RATIO } from "../../src/threat/evidence.js";
import type { Threat, ThreatModel } from "../../src/threat/types.js";
import { smallAudit } from "../audit/helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-evidence-"));

function threat(id: string, over: Partial<Threat>): Threat {
  return {
    id,
    rule: id.split("@")[0],
    title: id,
    description: "",
    kind: "ai",
    stride: [],
    target: { component: "classifier" },
    atlas: [],
    owasp_ml: [],
    owasp_llm: [],
    rmf: ["Measure"],
    likelihood: 4,
    impact: 4,
    risk: 16,
    level: "high",
    rationale: [],
    mitigations: [],
    mitigated_by: [],
    evidence: [],
    status: "untested",
    ...over,
  };
}

const model = (): ThreatModel => {
  const description = {
    system: { name: "digits", deployment: "internet-facing" as const },
    components: [{ id: "classifier", type: "model" as const, trust_zone: "serving" }],
    flows: [],
    controls: [],
  };
  return {
    system: description.system,
    description,
    threats: [
      threat("AI-EVASION@classifier", { atlas: ["AML.T0043"], owasp_ml: ["ML01"], nist_class: "evasion" }),
      threat("AI-EXTRACTION@classifier", { atlas: ["AML.T0024.002"], owasp_ml: ["ML05"], nist_class: "privacy" }),
    ],
    warnings: [],
    generated: "2026-01-01T00:00:00.000Z",
  };
};

test("a real audit of the undefended CNN marks evasion tested-vulnerable and leaves extraction untested", async () => {
  const result = await smallAudit({
    config: {
      source: "test",
      seed: 0,
      samples: 48,
      batchSize: 64,
      lenientParams: false,
      attacks: [{ id: "fgsm", attack: "fgsm", kind: "curve", eps: [0.05, 0.3] }],
    },
  });
  const file = join(tmp, "report.json");
  writeFileSync(file, JSON.stringify(result.report));
  const out = attachEvidence(model(), [file]);
  const [evasion, extraction] = out.threats;
  assert.equal(evasion.status, "tested-vulnerable");
  assert.equal(evasion.evidence.length, 1);
  const e = evasion.evidence[0];
  assert.equal(e.kind, "audit");
  assert.equal(e.source, file);
  assert.equal(e.mitigated, false);
  assert.equal(e.metrics?.clean_accuracy, result.report.clean_accuracy);
  assert.ok(e.metrics!.worst_robust_accuracy < MITIGATED_RATIO * result.report.clean_accuracy);
  assert.equal(e.metrics!["robust_accuracy:fgsm@0.3"], e.metrics!.worst_robust_accuracy);
  assert.match(e.summary, /under fgsm at ε=0\.3/);
  assert.equal(extraction.status, "untested");
  assert.deepEqual(extraction.evidence, []);
  assert.deepEqual(out.warnings, []);
});

const attackReport = (clean: number, robust: number[]) => ({
  attack: "pgd",
  paper: "Madry et al. 2018",
  params: { eps: robust.map((_, i) => 0.1 * (i + 1)), norm: "inf", targeted: false },
  samples: 100,
  clean_accuracy: clean,
  robust_accuracy: robust[0],
  success_rate: 0,
  perturbation: { linf_mean: 0, linf_median: 0, l2_mean: 0, l2_median: 0, l0_mean: 0, l0_median: 0 },
  queries: null,
  seconds: 1,
  curve: robust.map((r, i) => ({
    eps: 0.1 * (i + 1),
    robust_accuracy: r,
    success_rate: 0,
    perturbation: { linf_mean: 0, linf_median: 0, l2_mean: 0, l2_median: 0, l0_mean: 0, l0_median: 0 },
    queries: null,
    seconds: 0.5,
  })),
});

test("an attack report decides by the worst ε: at least half the clean accuracy is mitigated", () => {
  const robust = join(tmp, "robust.json");
  writeFileSync(robust, JSON.stringify(attackReport(0.9, [0.8, 0.45])));
  const m1 = attachEvidence(model(), [robust]).threats[0];
  assert.equal(m1.status, "tested-mitigated");
  assert.equal(m1.evidence[0].kind, "attack");
  assert.equal(m1.evidence[0].metrics?.worst_robust_accuracy, 0.45);

  const weak = join(tmp, "weak.json");
  writeFileSync(weak, JSON.stringify(attackReport(0.9, [0.8, 0.44])));
  assert.equal(attachEvidence(model(), [weak]).threats[0].status, "tested-vulnerable");
  // One failing report is enough to show the threat open.
  assert.equal(attachEvidence(model(), [robust, weak]).threats[0].status, "tested-vulnerable");
});

test("unknown report kinds are skipped with a warning; unreadable files are user errors", () => {
  const redteam = join(tmp, "redteam.json");
  writeFileSync(redteam, JSON.stringify({ kind: "redteam", probes: [] }));
  const out = attachEvidence(model(), [redteam]);
  assert.ok(out.threats.every((t) => t.status === "untested"));
  assert.equal(out.warnings.length, 1);
  assert.match(out.warnings[0], /redteam\.json.*"redteam".*skipped/);

  assert.throws(
    () => attachEvidence(model(), [join(tmp, "missing.json")]),
    (e: unknown) => e instanceof AegisError && e.code === "FILE_NOT_FOUND" && /--evidence/.test(e.message),
  );
  const bad = join(tmp, "bad.json");
  writeFileSync(bad, "not json");
  assert.throws(
    () => attachEvidence(model(), [bad]),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_DATA",
  );
});

test("robust-accuracy evidence tests evasion only: a backdoor threat citing AML.T0043.004 stays untested", async () => {
  const { analyze } = await import("../../src/threat/analyze.js");
  const { parseSystem } = await import("../../src/threat/parse.js");
  const { templateText } = await import("../../src/threat/templates.js");
  const path = join(tmp, "pgd-vulnerable.json");
  writeFileSync(path, JSON.stringify(attackReport(0.98, [0.3, 0.0])));
  const classifier = attachEvidence(analyze(parseSystem(templateText("image-classifier-api"), "system.yaml")), [path]);
  const tested = classifier.threats.filter((t) => t.status !== "untested");
  assert.ok(tested.length > 0, "the evasion threat is tested");
  for (const t of tested) assert.match(t.rule, /EVASION/, `${t.id} got robust-accuracy evidence`);
  // The chatbot's third-party model carries a backdoor threat citing AML.T0043.004.
  const chatbot = attachEvidence(analyze(parseSystem(templateText("llm-chatbot"), "system.yaml")), [path]);
  const backdoor = chatbot.threats.find((t) => t.atlas.includes("AML.T0043.004"));
  assert.ok(backdoor, "the chatbot template yields a backdoor threat");
  assert.equal(backdoor.status, "untested");
});

/** A membership result as `aegis infer membership` measures it, with one attack of the given strength. */
function membershipResult(auc: number, tprAt01: number): MembershipResult {
  return {
    members: 500,
    non_members: 500,
    reference: 1000,
    population: 2000,
    augment: "none",
    target: { member_accuracy: 1, non_member_accuracy: 0.9 },
    shadow: null,
    attacks: [
      {
        attack: "loss",
        title: "Loss threshold",
        paper: "Yeom et al. 2018",
        access: "probabilities",
        shadow_models: 0,
        queries: 1,
        auc,
        balanced_accuracy: auc,
        tpr_at_low_fpr: [
          { fpr: 0.001, tpr: tprAt01 },
          { fpr: 0.01, tpr: tprAt01 * 2 },
        ],
        threshold: null,
        roc: [
          [0, 0],
          [1, 1],
        ],
        seconds: 1,
        params: {},
      },
    ],
    warnings: [],
  };
}

test("membership reports test the threats citing AML.T0024.000: a leaking model is vulnerable, one at chance mitigated", async () => {
  const { analyze } = await import("../../src/threat/analyze.js");
  const { parseSystem } = await import("../../src/threat/parse.js");
  const { templateText } = await import("../../src/threat/templates.js");
  const write = (name: string, result: MembershipResult) => {
    const report: MembershipReport = {
      model: "digits.onnx",
      data: { members: "train", non_members: "test", reference: "reference" },
      result,
      findings: membershipFindings("digits.onnx", result),
    };
    const path = join(tmp, name);
    writeFileSync(path, JSON.stringify(report));
    return path;
  };
  const system = analyze(parseSystem(templateText("image-classifier-api"), "system.yaml"));
  const leaking = attachEvidence(system, [write("leaking.json", membershipResult(0.8, 0.05))]);
  const privacy = leaking.threats.filter((t) => t.atlas.includes("AML.T0024.000"));
  assert.ok(privacy.length > 0, "the template has a membership threat");
  for (const t of privacy) {
    assert.equal(t.status, "tested-vulnerable", t.id);
    assert.equal(t.evidence[0].kind, "membership");
    assert.match(t.evidence[0].summary, /^membership inference: high: Training-set membership can be inferred/);
    assert.equal(t.evidence[0].metrics?.auc, 0.8);
  }
  for (const t of leaking.threats.filter((t) => !t.atlas.includes("AML.T0024.000"))) assert.equal(t.status, "untested", `${t.id} is not what membership tests`);
  assert.deepEqual(leaking.warnings, system.warnings);

  const private_ = attachEvidence(system, [write("chance.json", membershipResult(0.51, 0.001))]);
  for (const t of private_.threats.filter((t) => t.atlas.includes("AML.T0024.000"))) {
    assert.equal(t.status, "tested-mitigated", t.id);
    assert.equal(t.evidence[0].summary, "membership inference: no finding at medium severity or above");
  }
});

test("an extraction report tests the extraction threat; the evasion threat is left to robustness evidence", () => {
  const report: Pick<ExtractionReport, "attack" | "budget" | "queries" | "fidelity"> & { findings: object[] } = {
    attack: "copycat",
    budget: 1000,
    queries: 1000,
    fidelity: 0.93,
    findings: [{ rule: "AEGIS-EXTRACTION-COPYCAT", severity: "high", title: "A copy agreeing on 93% was stolen", evidence: { fidelity: 0.93 } }],
  };
  const path = join(tmp, "extraction.json");
  writeFileSync(path, JSON.stringify(report));
  const [evasion, extraction] = attachEvidence(model(), [path]).threats;
  assert.equal(extraction.status, "tested-vulnerable");
  assert.deepEqual(extraction.evidence[0].metrics, { fidelity: 0.93 });
  assert.equal(evasion.status, "untested");
});
