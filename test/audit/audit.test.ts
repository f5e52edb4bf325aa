/**
 * The audit runner on the bundled CNN: real attack numbers, findings, policy verdicts, a
 * schema-valid report, attacks the model cannot run, attacks that fail, and Ctrl-C.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { PNG } from "pngjs";
import type { Attack, CommonParams } from "../../src/attacks/types.js";
import { medianMinNorm } from "../../src/audit/findings.js";
import { renderHtml } from "../../src/audit/html.js";
import { renderMarkdown } from "../../src/audit/markdown.js";
import { parsePolicy } from "../../src/audit/policy.js";
import type { AuditReport } from "../../src/audit/types.js";
import type { Predictor } from "../../src/engine/capabilities.js";
import { parseYaml } from "../../src/report/yaml.js";
import { schemaValidator } from "../helpers/schemas.js";
import { lookup, smallAudit, smallConfig } from "./helpers.js";

const validate = schemaValidator("audit-report.schema.json");

const policyYaml = `
min_clean_accuracy: 0.95
min_robust_accuracy:
  pgd@0.1: 0.9        # an undefended CNN cannot meet this
  fgsm@0.3: 0.0
  line-search@0.5: 0.5
max_success_rate:
  fgsm@0.1: 0.6
min_median_perturbation:
  line-search: 0.5
  deepfool: 0.5
`;

test("audit of the undefended CNN: curves fall with ε, the minimum-norm attacks succeed, findings and policy follow", async () => {
  const policy = parsePolicy(parseYaml(policyYaml, "policy.yaml"), smallConfig());
  const logs: string[] = [];
  const { report, images } = await smallAudit({ policy, log: (m) => logs.push(m) });
  const ok = validate(report);
  assert.ok(ok, JSON.stringify(validate.errors, null, 1));
  assert.ok(report.clean_accuracy >= 0.95, `clean accuracy ${report.clean_accuracy}`);
  assert.equal(report.interrupted, false);

  const byId = new Map(report.attacks.map((a) => [a.id, a]));
  const fgsm = byId.get("fgsm")!;
  const pgd = byId.get("pgd")!;
  const fgsmAcc = fgsm.runs.map((r) => r.robust_accuracy);
  assert.deepEqual(
    fgsm.runs.map((r) => r.eps),
    [0.1, 0.2, 0.3],
  );
  assert.ok(fgsmAcc[0] > fgsmAcc[1] && fgsmAcc[1] > fgsmAcc[2], `FGSM curve falls: ${fgsmAcc}`);
  assert.ok(fgsmAcc[2] < 0.3, `FGSM ε=0.3 breaks an undefended CNN: ${fgsmAcc[2]}`);
  const [pgd01, pgd03] = pgd.runs;
  assert.ok(pgd03.robust_accuracy <= 0.05, `PGD ε=0.3: ${pgd03.robust_accuracy}`);
  assert.ok(pgd01.robust_accuracy <= fgsmAcc[0], "PGD is at least as strong as FGSM at ε=0.1");
  assert.ok(Math.abs(pgd03.perturbation.linf_mean - 0.3) < 1e-4, "L∞ perturbations sit on the ε-ball");
  assert.equal(pgd.params.epsStep, 0.01, "per-attack params reach the attack");
  for (const r of [...fgsm.runs, ...pgd.runs]) {
    assert.equal(r.per_class.length, 10);
    // Per-class accuracies, weighted by class counts, give back the overall robust accuracy.
    const counts = report.data.per_class_samples;
    const total = r.per_class.reduce<number>((s, v, c) => s + (v ?? 0) * counts[c], 0);
    assert.ok(Math.abs(total / r.samples - r.robust_accuracy) < 1e-9);
  }

  // Minimum-norm: success rate and sizes instead of a measured curve; the derived curve starts at clean accuracy and falls to the failures.
  const ls = byId.get("line-search")!;
  assert.equal(ls.kind, "minimum-norm");
  assert.equal(ls.runs.length, 1);
  const run = ls.runs[0];
  assert.equal(run.eps, null);
  assert.ok(run.success_rate >= 0.85, `line search success ${run.success_rate}`);
  assert.ok(run.perturbation.l2_mean > 0.2 && run.perturbation.l2_mean < 4, `mean L2 ${run.perturbation.l2_mean}`);
  assert.ok(run.queries && run.queries.mean === 13, "queries counted per sample");
  assert.equal(ls.min_norms?.length, 64);
  assert.equal(ls.curve[0].eps, 0);
  assert.ok(Math.abs(ls.curve[0].robust_accuracy - run.clean_accuracy) < 1e-9);
  for (let i = 1; i < ls.curve.length; i++) assert.ok(ls.curve[i].robust_accuracy <= ls.curve[i - 1].robust_accuracy);
  assert.ok(Math.abs(ls.curve.at(-1)!.robust_accuracy - run.robust_accuracy) < 1e-9);

  // DeepFool, on its own smaller sample: nearly every sample broken, by smaller steps than the line search takes.
  const df = byId.get("deepfool")!;
  assert.equal(df.status, "done");
  assert.equal(df.kind, "minimum-norm");
  assert.equal(df.norm, "2");
  assert.equal(df.samples, 32);
  assert.equal(df.min_norms?.length, 32);
  assert.ok(df.runs[0].success_rate >= 0.9, `DeepFool success ${df.runs[0].success_rate}`);
  assert.ok(medianMinNorm(df) < medianMinNorm(ls), `DeepFool median ${medianMinNorm(df)} < line search ${medianMinNorm(ls)}`);
  assert.equal(df.runs[0].ensemble, null, "a single attack has no ensemble breakdown");

  assert.ok(
    report.attacks.every((a) => a.status === "done"),
    "the model gives every capability",
  );
  assert.deepEqual(report.warnings, []);
  assert.ok(
    logs.some((l) => /^\[1\/7\] fgsm ε=0\.1: robust accuracy/.test(l)),
    logs.join("\n"),
  );
  assert.ok(logs.some((l) => /^\[7\/7\] deepfool: robust accuracy/.test(l)));

  // Findings name ATLAS and OWASP; PGD on an undefended model is high severity.
  const pgdFinding = report.findings.find((f) => f.location.section === "pgd")!;
  assert.equal(pgdFinding.severity, "high");
  assert.equal(pgdFinding.rule, "AEGIS-EVASION-PGD");
  assert.equal(pgdFinding.location.file, report.model.path);
  assert.deepEqual(
    pgdFinding.references.map((t) => t.id),
    ["AML.T0043", "AML.T0043.000", "AML.T0015", "ML01", "evasion"],
  );
  const pgdRun = report.attacks.find((a) => a.id === "pgd")!.runs.at(-1)!;
  assert.equal(pgdFinding.evidence.robust_accuracy, pgdRun.robust_accuracy, "the evidence holds the run's figures");
  assert.equal(report.findings.length, 4, "one finding per attack that ran");

  // Policy: the PGD rule fails, the others hold.
  assert.equal(report.policy?.passed, false);
  const rule = (key: string | null, name: string) => report.policy!.rules.find((r) => r.key === key && r.rule === name)!;
  assert.equal(rule(null, "min_clean_accuracy").passed, true);
  assert.equal(rule("pgd@0.1", "min_robust_accuracy").passed, false);
  assert.equal(rule("pgd@0.1", "min_robust_accuracy").actual, pgd01.robust_accuracy);
  assert.equal(rule("fgsm@0.3", "min_robust_accuracy").passed, true);
  assert.equal(rule("fgsm@0.1", "max_success_rate").passed, true);
  assert.equal(rule("line-search", "min_median_perturbation").passed, true);
  assert.equal(rule("deepfool", "min_median_perturbation").actual, medianMinNorm(df));
  assert.equal(typeof rule("line-search@0.5", "min_robust_accuracy").actual, "number");

  // Examples: successful ones, one per class first, with PNG images of the sample size.
  for (const a of [fgsm, pgd, ls, df]) {
    const items = a.examples?.items ?? [];
    assert.equal(items.length, 8);
    for (const e of items) {
      assert.notEqual(e.adversarial_prediction, e.label);
      assert.equal(e.clean_prediction, e.label);
      assert.ok(e.adversarial_confidence > 0 && e.adversarial_confidence <= 1);
      const img = images.get(`${a.id}:${e.index}`)!;
      for (const uri of [img.original, img.adversarial, img.perturbation]) {
        const png = PNG.sync.read(Buffer.from(uri.replace(/^data:image\/png;base64,/, ""), "base64"));
        assert.deepEqual([png.width, png.height], [28, 28]);
      }
    }
    assert.ok(new Set(items.map((e) => e.label)).size >= 6, "examples cover several classes");
  }
});

test("Ctrl-C during the audit keeps the finished runs, drops the one it cut, and marks the rest not run", async () => {
  const controller = new AbortController();
  const { report } = await smallAudit({
    samples: 64,
    signal: controller.signal,
    // Abort as soon as the first run is reported: the second run starts aborted and stops at once.
    log: (m) => {
      if (m.startsWith("[1/")) controller.abort();
    },
  });
  assert.ok(validate(report as AuditReport), JSON.stringify(validate.errors));
  assert.equal(report.interrupted, true);
  const [fgsm, pgd, ls, df] = report.attacks;
  assert.equal(fgsm.status, "interrupted");
  assert.deepEqual(
    fgsm.runs.map((r) => r.eps),
    [0.1],
  );
  assert.equal(pgd.status, "not-run");
  assert.equal(ls.status, "not-run");
  assert.equal(df.status, "not-run");
  assert.equal(df.reason, "the audit was interrupted before it");
  assert.ok(report.warnings.some((w) => /interrupted/.test(w)));
});

test("a model that gives predictions only: gradient attacks are skipped with the reason, black-box ones run", async () => {
  const logs: string[] = [];
  const { report } = await smallAudit({
    predictOnly: true,
    log: (m) => logs.push(m),
    config: {
      ...smallConfig(16),
      attacks: [
        { id: "pgd", attack: "pgd", kind: "curve", eps: [0.1] },
        { id: "deepfool", attack: "deepfool", kind: "minimum-norm" },
        { id: "square", attack: "square", kind: "curve", eps: [0.3], params: { maxQueries: 100 } },
      ],
    },
  });
  assert.ok(validate(report), JSON.stringify(validate.errors));
  const [pgd, df, sq] = report.attacks;
  assert.deepEqual([pgd.status, df.status, sq.status], ["skipped", "skipped", "done"]);
  assert.equal(pgd.reason, "needs lossGradient, which the model does not give");
  assert.equal(df.reason, "needs classGradient, which the model does not give");
  assert.deepEqual([pgd.runs, df.runs], [[], []]);
  // Skipped attacks still say what they are, so the report reads the same as a full one.
  assert.equal(df.title, "DeepFool");
  assert.equal(df.access, "white-box");
  assert.equal(sq.access, "black-box");
  assert.ok(sq.runs[0].queries && sq.runs[0].queries.max <= 100, "queries counted within the budget");
  assert.deepEqual(report.warnings, [
    "pgd skipped: needs lossGradient, which the model does not give",
    "deepfool skipped: needs classGradient, which the model does not give",
  ]);
  // Said before the first run, and the runs are numbered without the skipped ones.
  const warned = logs.indexOf("warning: pgd skipped: needs lossGradient, which the model does not give");
  const ran = logs.findIndex((l) => l.startsWith("[1/1] square ε=0.3: robust accuracy"));
  assert.ok(warned !== -1 && ran !== -1 && warned < ran, logs.join("\n"));
  assert.deepEqual(
    report.findings.map((f) => f.location.section),
    ["square"],
  );
  assert.equal((renderHtml(report).match(/<tr class="skipped">/g) ?? []).length, 2);
  assert.match(renderMarkdown(report), /\| deepfool \| skipped: needs classGradient, which the model does not give \|/);
});

test("a suite built in code that names no registered attack is refused before anything runs", async () => {
  const logs: string[] = [];
  await assert.rejects(
    smallAudit({ log: (m) => logs.push(m), config: { ...smallConfig(8), attacks: [{ id: "cw", attack: "cw-l3", kind: "minimum-norm" }] } }),
    (e: Error & { code?: string }) => {
      assert.equal(e.code, "BAD_OPTION");
      assert.match(e.message, /the suite's cw names no attack \("cw-l3"\); aegis attack --list shows them/);
      return true;
    },
  );
  assert.deepEqual(logs, []);
});

/** Breaks the model at ε ≤ 0.1 like FGSM would not; fails at any larger ε, as a bug in an attack would. */
const failsAboveTenth: Attack<CommonParams, Predictor> = {
  name: "fails-above-0.1",
  title: "Failing test double",
  paper: "test double: an attack with a bug",
  needs: ["predict"],
  norms: ["inf"],
  defaults: { eps: 0.1, norm: "inf", targeted: false },
  help: { eps: "ε", norm: "inf", targeted: "unsupported" },
  async run(_model, x, _y, p) {
    if (p.eps > 0.1) throw new TypeError("cannot read properties of undefined");
    return { x };
  },
};

test("an attack that fails is named with its error in every format while the others run and keep their numbers", async () => {
  const { report } = await smallAudit({
    lookup: (name) => (name === failsAboveTenth.name ? (failsAboveTenth as Attack<CommonParams, unknown>) : lookup(name)),
    config: {
      ...smallConfig(16),
      attacks: [
        { id: "fgsm", attack: "fgsm", kind: "curve", eps: [0.1] },
        { id: "buggy", attack: failsAboveTenth.name, kind: "curve", eps: [0.1, 0.2, 0.3] },
        { id: "buggy-at-once", attack: failsAboveTenth.name, kind: "curve", eps: [0.3] },
        { id: "deepfool", attack: "deepfool", kind: "minimum-norm" },
      ],
    },
  });
  assert.ok(validate(report), JSON.stringify(validate.errors));
  const reason = "internal error, please report it: cannot read properties of undefined";
  assert.deepEqual(
    report.attacks.map((a) => [a.id, a.status, a.reason, a.runs.map((p) => p.eps)]),
    [
      ["fgsm", "done", null, [0.1]],
      // The run that finished before the failure is kept.
      ["buggy", "failed", reason, [0.1]],
      ["buggy-at-once", "failed", reason, []],
      ["deepfool", "done", null, [null]],
    ],
  );
  assert.equal(report.interrupted, false);
  assert.ok(report.attacks[3].runs[0].success_rate > 0.5, "the attack after the failures ran in full");
  assert.deepEqual(
    report.warnings.filter((w) => / failed: /.test(w)),
    [`buggy failed: ${reason}`, `buggy-at-once failed: ${reason}`],
  );
  assert.match(renderMarkdown(report), /\| buggy-at-once \| failed: internal error, please report it: cannot read properties of undefined \|/);
  assert.match(renderHtml(report), /<tr class="skipped">.*?buggy-at-once.*?failed<\/span> internal error, please report it/);
});
