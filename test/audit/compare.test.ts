/**
 * `aegis audit --compare`: the bundled CNN against an MLP trained here for one epoch on
 * 2,000 MNIST samples (a measurably different model). The side-by-side numbers must be
 * exactly those of two separate audits with the same seed; the report validates against
 * the published schema; the HTML shows one chart per attack with one line per model in
 * Chromium; models that cannot share a suite are refused before anything runs.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { Capability } from "../../src/attacks/types.js";
import { type ComparedModel, type ComparisonReport, compareReports, defaultLabels, runComparison } from "../../src/audit/compare.js";
import type { AuditConfig } from "../../src/audit/config.js";
import { medianMinNorm } from "../../src/audit/findings.js";
import { renderHtml } from "../../src/audit/html.js";
import { renderMarkdown } from "../../src/audit/markdown.js";
import { parsePolicy } from "../../src/audit/policy.js";
import { runAudit } from "../../src/audit/suite.js";
import type { AuditReport } from "../../src/audit/types.js";
import { loadMnist } from "../../src/data/index.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { summarizeModel } from "../../src/engine/inspect.js";
import { adam } from "../../src/engine/optimizers.js";
import { train } from "../../src/engine/trainer.js";
import { loadModel } from "../../src/onnx/io.js";
import { parseYaml } from "../../src/report/yaml.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";
import { openReport } from "../helpers/chromium.js";
import { schemaValidator } from "../helpers/schemas.js";
import { DEMO } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-compare-"));
const validate = schemaValidator("audit-report.schema.json");
/** Luminance (0–255) of a computed "rgb(r, g, b)": what a greyscale print keeps of a colour. */
const grey = (color: string) => {
  const [r, g, b] = (color.match(/\d+/g) ?? []).map(Number);
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const ALL: ReadonlySet<Capability> = new Set(["predict", "lossGradient", "classGradient"]);

const config: AuditConfig = {
  source: "test",
  seed: 3,
  samples: 64,
  batchSize: 64,
  lenientParams: false,
  attacks: [
    { id: "fgsm", attack: "fgsm", kind: "curve", eps: [0.05, 0.1, 0.2] },
    { id: "pgd", attack: "pgd", kind: "curve", eps: [0.1], params: { maxIter: 10, epsStep: 0.025 } },
    { id: "deepfool", attack: "deepfool", kind: "minimum-norm", samples: 24 },
  ],
};

const { train: trainSet, test: testSet } = loadMnist();
const data = { ...testSet, name: "mnist-test" };
let cnn: OnnxClassifier;
let mlp: OnnxClassifier;
let baseline: ComparedModel;
let candidate: ComparedModel;
let result: Awaited<ReturnType<typeof runComparison>>;

before(async () => {
  // The MLP learns for one epoch on 2,000 samples: a weaker, differently built model.
  const model = buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 1 });
  const trainer = await OnnxClassifier.create(model, { trainable: true, batchSize: 64 });
  await train(
    trainer,
    { x: sliceRows(trainSet.x, 0, 2000), labels: labelsOf(trainSet.y!).slice(0, 2000) },
    { epochs: 1, batchSize: 64, optimizer: adam({ lr: 1e-3 }) },
  );
  const trained = trainer.exportModel();
  await trainer.release();
  mlp = await OnnxClassifier.create(trained, { batchSize: 64 });
  cnn = await OnnxClassifier.fromFile(DEMO, { batchSize: 64 });
  baseline = { label: "mlp-1-epoch", model: mlp, capabilities: ALL, modelPath: "mlp-1-epoch.onnx", summary: await summarizeModel(trained) };
  candidate = { label: "cnn", model: cnn, capabilities: ALL, modelPath: DEMO, summary: await summarizeModel(loadModel(DEMO)) };
  const policy = parsePolicy(parseYaml("min_clean_accuracy: 0.95\nmin_robust_accuracy:\n  fgsm@0.05: 0.5\n", "policy.yaml"), config);
  result = await runComparison({ baseline, candidate, data, config, policy });
});

after(async () => {
  await mlp?.release();
  await cnn?.release();
});

test("both models run the same suite: every number equals that of a separate audit with the same seed", async () => {
  const { report } = result;
  const c = report.comparison;
  const alone = async (m: ComparedModel) =>
    (await runAudit({ model: m.model, capabilities: m.capabilities, modelPath: m.modelPath, summary: m.summary, data, config })).report;
  const [a, b] = [await alone(baseline), await alone(candidate)];

  assert.equal(c.clean_accuracy.baseline, a.clean_accuracy);
  assert.equal(c.clean_accuracy.candidate, b.clean_accuracy);
  assert.ok(b.clean_accuracy - a.clean_accuracy > 0.03, `the models differ measurably: ${a.clean_accuracy} vs ${b.clean_accuracy}`);
  assert.deepEqual(
    c.rows.map((r) => r.key),
    ["fgsm@0.05", "fgsm@0.1", "fgsm@0.2", "pgd@0.1", "deepfool"],
  );
  const curveRuns = (r: AuditReport) => r.attacks.filter((x) => x.kind === "curve").flatMap((x) => x.runs.map((p) => p.robust_accuracy));
  const rows = c.rows.filter((r) => r.metric === "robust_accuracy");
  assert.deepEqual(
    rows.map((r) => r.baseline),
    curveRuns(a),
  );
  assert.deepEqual(
    rows.map((r) => r.candidate),
    curveRuns(b),
  );
  for (const r of rows) assert.equal(r.delta, (r.candidate as number) - (r.baseline as number));
  const deepfool = c.rows.find((r) => r.key === "deepfool")!;
  assert.equal(deepfool.metric, "median_perturbation");
  assert.equal(deepfool.baseline, medianMinNorm(a.attacks[2]));
  assert.equal(deepfool.candidate, medianMinNorm(b.attacks[2]));
  assert.equal(deepfool.samples, 24);
  // The MLP is the easier target: the CNN keeps more accuracy under FGSM at every ε.
  assert.ok(
    rows.filter((r) => r.attack === "fgsm").every((r) => (r.delta as number) > 0),
    `FGSM deltas ${rows.map((r) => r.delta)}`,
  );
  // The rest of the report is the candidate's own audit; the baseline's is kept whole.
  assert.equal(report.model.path, DEMO);
  assert.deepEqual(
    report.attacks.map((x) => x.runs.map((p) => p.robust_accuracy)),
    b.attacks.map((x) => x.runs.map((p) => p.robust_accuracy)),
  );
  assert.deepEqual(
    c.baseline.attacks.map((x) => x.min_norms),
    a.attacks.map((x) => x.min_norms),
  );
  assert.equal(c.baseline.model.path, "mlp-1-epoch.onnx");
  assert.deepEqual(
    c.baseline.findings.map((f) => f.rule),
    a.findings.map((f) => f.rule),
  );
  assert.ok(Math.abs(report.seconds - c.baseline.seconds - b.seconds) < b.seconds, "seconds cover both audits");
});

test("the policy is judged on the candidate, the verdict names the headline attack, and the JSON matches the schema", () => {
  const { report } = result;
  const c = report.comparison;
  // 0.95 clean accuracy: the CNN meets it, the one-epoch MLP would not.
  assert.ok(c.clean_accuracy.baseline < 0.95 && c.clean_accuracy.candidate >= 0.95);
  assert.equal(report.policy?.rules[0].passed, true);
  assert.equal(report.policy?.rules[1].actual, c.rows[0].candidate);
  assert.equal(c.baseline.policy, null);

  // The headline: the attack leaving the candidate the lowest robust accuracy at its largest ε, at the ε where the models differ most.
  const [fgsmLast, pgdLast] = [c.rows[2], c.rows[3]];
  const strongest = (pgdLast.candidate as number) <= (fgsmLast.candidate as number) ? [pgdLast] : c.rows.slice(0, 3);
  const expected = strongest.reduce((p, q) => (Math.abs(q.delta as number) >= Math.abs(p.delta as number) ? q : p));
  assert.equal(c.headline, expected.key);
  const points = Math.abs((expected.delta as number) * 100).toFixed(1);
  assert.match(
    c.verdict,
    new RegExp(
      `^cnn (gains \\+${points} points of|loses ${points} points of) ${expected.attack} robust accuracy at ε = ${expected.eps} \\(L∞; [\\d.]+% → [\\d.]+%\\) and gains ${(c.clean_accuracy.delta * 100).toFixed(1)} points of clean accuracy`,
    ),
  );
  assert.match(c.verdict, /robustness is higher in \d, lower in \d, the same in \d of the 5 measurements both models ran\.$/);

  const json: ComparisonReport = JSON.parse(JSON.stringify(report));
  assert.ok(validate(json), JSON.stringify(validate.errors, null, 1));
  // Compatible: a single-model report still validates, and a comparison inside the baseline does not.
  assert.ok(validate(c.baseline), JSON.stringify(validate.errors));
  assert.ok(!validate({ ...json, comparison: { ...json.comparison, baseline: json } }), "the baseline holds no comparison of its own");
  assert.ok(
    !validate({ ...json, comparison: { ...json.comparison, rows: [{ ...json.comparison.rows[0], delta: "7" as unknown as number }] } }),
    "rows are checked",
  );
});

test("the HTML puts both models on one chart per attack, in Chromium, with lines apart in greyscale", async () => {
  const file = join(tmp, "compare.html");
  const html = renderHtml(result.report, result.images);
  writeFileSync(file, html);
  assert.doesNotMatch(html, /<script|<link|src="http|url\(http/, "self-contained");
  const { browser, page, fetched, errors } = await openReport(file);
  try {
    const facts = await page.evaluate(() => {
      return {
        charts: [...document.querySelectorAll("figure[data-attack]")].map((fig) => ({
          attack: fig.getAttribute("data-attack"),
          lines: [...fig.querySelectorAll("path[data-series]")].map((p) => ({
            series: p.getAttribute("data-series"),
            points: (p.getAttribute("d") ?? "").split(/[ML]/).filter((s) => s.trim()).length,
            length: (p as SVGPathElement).getTotalLength(),
            dash: getComputedStyle(p).strokeDasharray,
            stroke: getComputedStyle(p).stroke,
          })),
          legend: [...fig.querySelectorAll("g.legend-item")].map((g) => g.textContent),
          circles: fig.querySelectorAll("svg > circle").length,
          squares: fig.querySelectorAll("svg > rect[width='7']").length,
          box: fig.querySelector("svg")!.getBoundingClientRect().width,
        })),
        headers: [...document.querySelectorAll("table.compare thead th")].map((th) => th.textContent),
        rows: [...document.querySelectorAll("table.compare tbody tr")].map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent?.trim())),
        verdict: document.querySelector(".verdict-box .headline")?.textContent,
        sides: [...document.querySelectorAll(".pair .side h3")].map((h) => h.textContent),
        findings: [...document.querySelectorAll(".pair .side")].map((s) => s.querySelectorAll(".finding").length),
        images: [...document.querySelectorAll(".grid img")].filter((img) => (img as HTMLImageElement).naturalWidth === 28).length,
        badge: document.querySelector(".badge")?.textContent,
      };
    });
    assert.deepEqual(fetched, []);
    assert.deepEqual(errors, []);
    assert.deepEqual(
      facts.charts.map((ch) => ch.attack),
      ["fgsm", "pgd", "deepfool"],
    );
    for (const ch of facts.charts) {
      assert.deepEqual(
        ch.lines.map((l) => l.series),
        ["mlp-1-epoch", "cnn"],
        `${ch.attack}: one line per model`,
      );
      assert.deepEqual(ch.legend, ["mlp-1-epoch", "cnn"], `${ch.attack}: the legend names both`);
      assert.ok(
        ch.lines.every((l) => l.length > 50),
        `${ch.attack}: visible lines`,
      );
      const [base, cand] = ch.lines;
      assert.equal(base.dash, "none");
      assert.match(cand.dash, /^8px,? 5px$/);
      const [dark, light] = [grey(base.stroke), grey(cand.stroke)];
      assert.ok(light - dark > 40, `${ch.attack}: apart in greyscale (${dark.toFixed(0)} vs ${light.toFixed(0)})`);
      assert.ok(ch.box > 400, `chart drawn at ${ch.box}px`);
    }
    const [fgsm, pgd, deepfool] = facts.charts;
    assert.deepEqual(
      fgsm.lines.map((l) => l.points),
      [4, 4],
      "clean point plus three ε",
    );
    assert.equal(fgsm.circles, 4, "the baseline's points are circles");
    assert.equal(fgsm.squares, 4, "the candidate's are squares");
    assert.deepEqual(
      pgd.lines.map((l) => l.points),
      [2, 2],
    );
    assert.deepEqual(
      deepfool.lines.map((l) => l.points),
      [21, 21],
      "derived curves",
    );
    assert.deepEqual(facts.headers, ["attack", "kind", "norm", "ε", "samples", "mlp-1-epoch", "cnn", "Δ", "measure"]);
    const c = result.report.comparison;
    assert.equal(facts.rows.length, 1 + c.rows.length);
    assert.deepEqual(facts.rows[0].slice(5, 8), [
      `${(c.clean_accuracy.baseline * 100).toFixed(1)}%`,
      `${(c.clean_accuracy.candidate * 100).toFixed(1)}%`,
      `+${(c.clean_accuracy.delta * 100).toFixed(1)} pts`,
    ]);
    const pgdRow = facts.rows[4];
    const pgdData = c.rows[3];
    assert.equal(pgdRow[0], "pgd");
    assert.equal(pgdRow[6], `${((pgdData.candidate as number) * 100).toFixed(1)}%`);
    assert.equal(facts.verdict, c.verdict);
    assert.deepEqual(facts.sides, ["mlp-1-epoch", "cnn"]);
    assert.deepEqual(facts.findings, [c.baseline.findings.length, result.report.findings.length]);
    assert.ok(facts.images >= 3 * 2 * 3, `example images for both models: ${facts.images}`);
    assert.equal(facts.badge, result.report.policy?.passed ? "Policy passed" : "Policy failed");
  } finally {
    await browser.close();
  }
});

test("the Markdown report has the side-by-side table with Δ and findings per model", () => {
  const md = renderMarkdown(result.report);
  const c = result.report.comparison;
  assert.match(md, /^# Aegis robustness comparison: mlp-1-epoch vs cnn/);
  assert.ok(md.includes(`**${c.verdict}**`));
  assert.match(md, /\| attack \| kind \| norm \| ε \| samples \| measure \| mlp-1-epoch \| cnn \| Δ \|/);
  assert.match(md, /\| clean accuracy \| — \| — \| — \| 64 \| accuracy \| [\d.]+% \| [\d.]+% \| \+[\d.]+ pts \|/);
  assert.match(md, /\| fgsm \| curve \| L∞ \| 0\.1 \| 64 \| robust accuracy \| [\d.]+% \| [\d.]+% \| [+−±][\d.]+ pts \|/);
  assert.match(md, /\| deepfool \| minimum-norm \| L2 \| — \| 24 \| median L2 perturbation \| [\d.]+ \| [\d.]+ \| [+−±][\d.]+ \|/);
  assert.match(md, /## Findings: mlp-1-epoch\n\n- \*\*\[(HIGH|MEDIUM|LOW|INFO)\]\*\*/);
  assert.match(md, /## Findings: cnn\n/);
  assert.match(md, /## Policy verdict \(cnn\)/);
});

test("the verdict reads as the issue's example for a hardened model", () => {
  const base = result.report.comparison.baseline;
  // The baseline's audit with the numbers of an undefended and a PGD-trained CNN.
  const withNumbers = (clean: number, pgd: number[]): AuditReport => ({
    ...base,
    clean_accuracy: clean,
    attacks: base.attacks.map((a) =>
      a.id === "pgd" ? { ...a, runs: pgd.map((v, i) => ({ ...a.runs[0], eps: [0.1, 0.3][i], robust_accuracy: v })) } : { ...a, status: "not-run", runs: [] },
    ),
  });
  const c = compareReports(withNumbers(0.976, [0.412, 0.01]), withNumbers(0.965, [0.93, 0.762]), ["base", "hardened"]);
  // PGD differs most at 0.3; the other attacks did not run.
  assert.equal(c.headline, "pgd@0.3");
  assert.equal(
    c.verdict,
    "hardened gains +75.2 points of pgd robust accuracy at ε = 0.3 (L∞; 1.0% → 76.2%) and loses 1.1 points of clean accuracy (97.6% → 96.5%); robustness is higher in 2, lower in 0, the same in 0 of the 2 measurements both models ran.",
  );
});

test("an attack one model cannot run shows as not run, not as a gain, and the verdict says so", () => {
  const { report } = result;
  const b = report as AuditReport;
  // The candidate as an endpoint without gradients would be audited: its white-box attacks skipped.
  const skipped: AuditReport = {
    ...b,
    attacks: b.attacks.map((a) => ({
      ...a,
      status: "skipped",
      reason: "needs lossGradient, which the model does not give",
      runs: [],
      curve: [],
      min_norms: null,
    })),
  };
  const c = compareReports(report.comparison.baseline, skipped, ["base", "defended"]);
  assert.equal(c.headline, null);
  assert.ok(c.rows.every((r) => r.candidate === null && r.delta === null));
  assert.match(c.rows[0].note ?? "", /skipped on defended: needs lossGradient/);
  assert.match(c.verdict, /no attack ran on both models; fgsm, pgd, deepfool could not run on defended .* so its robustness against them is unmeasured/);
  assert.throws(
    () => compareReports(report.comparison.baseline, { ...b, config: { ...b.config, seed: 9 } }, ["a", "b"]),
    (e: Error & { code?: string }) => e.code === "BAD_DATA" && /same --data, --samples and --seed/.test(e.message),
  );
});

test("Ctrl-C during the baseline keeps what finished; the candidate's attacks are marked not run", async () => {
  const controller = new AbortController();
  const logs: string[] = [];
  const log = (m: string) => {
    logs.push(m);
    if (/^mlp-1-epoch: \[1\/5\]/.test(m)) controller.abort();
  };
  const { report } = await runComparison({ baseline, candidate, data, config, signal: controller.signal, log });
  const c = report.comparison;
  assert.equal(report.interrupted, true);
  assert.equal(c.baseline.attacks[0].runs.length, 1, "the first FGSM run finished before the interruption");
  assert.equal(c.baseline.attacks[0].status, "interrupted");
  assert.ok(
    report.attacks.every((a) => a.status === "not-run" && a.runs.length === 0),
    "nothing ran on the candidate",
  );
  assert.ok(!logs.some((m) => /^cnn: \[/.test(m)), "no attack started on the candidate");
  assert.deepEqual(
    c.rows.map((r) => [r.key, r.delta]),
    [
      ["fgsm@0.05", null],
      ["pgd", null],
      ["deepfool", null],
    ],
  );
  assert.match(c.rows[0].note ?? "", /^not-run on cnn: the audit was interrupted before it$/);
  assert.match(c.verdict, /no attack ran on both models; the audit was interrupted, so some measurements are missing\.$/);
  assert.ok(validate(JSON.parse(JSON.stringify(report))), JSON.stringify(validate.errors));
});

test("models that cannot share a suite are refused before anything runs", async () => {
  const flat = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [784], numClasses: 10 }));
  const five = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 5 }));
  const logs: string[] = [];
  const side = (label: string, model: OnnxClassifier): ComparedModel => ({ label, model, capabilities: ALL, modelPath: `${label}.onnx`, summary: null });
  try {
    await assert.rejects(
      runComparison({ baseline: side("cnn", cnn), candidate: side("flat", flat), data, config, log: (m) => logs.push(m) }),
      (e: Error & { code?: string }) =>
        e.code === "SHAPE_MISMATCH" &&
        e.message ===
          "cnn takes samples of shape [1, 28, 28] but flat takes [784]; --compare runs the same data through both, so compare models of the same input",
    );
    await assert.rejects(
      runComparison({ baseline: side("cnn", cnn), candidate: side("five", five), data, config, log: (m) => logs.push(m) }),
      (e: Error & { code?: string }) => e.code === "SHAPE_MISMATCH" && /cnn has 10 classes but five has 5/.test(e.message),
    );
    await assert.rejects(
      runComparison({ baseline: side("same", cnn), candidate: side("same", mlp), data, config, log: (m) => logs.push(m) }),
      (e: Error & { code?: string }) => e.code === "BAD_OPTION" && /--labels/.test(e.message),
    );
    assert.deepEqual(logs, [], "no audit started");
  } finally {
    await flat.release();
    await five.release();
  }
  assert.deepEqual(defaultLabels("models/base.onnx", "out/hardened.ONNX"), ["base", "hardened"]);
  assert.deepEqual(defaultLabels("a/model.onnx", "b/model.onnx"), ["a/model.onnx", "b/model.onnx"]);
});
