/**
 * `aegis audit` on models that take no images (issue 23): the built-in suite follows the
 * model's input, attacks that mean nothing on it are listed as skipped in every report
 * format, a time budget is stated next to the numbers with what it cut, and SIGTERM keeps
 * what finished as Ctrl-C does. The models are small MLPs built by the engine; their
 * labels are their own predictions, so every sample starts correctly classified.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import type { AuditReport } from "../../src/audit/index.js";
import { saveNpz } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { buildArchitecture, OnnxClassifier } from "../../src/engine/index.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { saveModel } from "../../src/onnx/io.js";
import { float32, sizeOf } from "../../src/tensor.js";
import { aegis, exited, startAegis } from "../helpers/cli.js";
import { schemaValidator } from "../helpers/schemas.js";

const validate = schemaValidator("audit-report.schema.json");
let tmp = "";

/** An MLP on samples of this shape, and `rows` uniform samples labelled by its own predictions. */
async function fixture(name: string, shape: number[], rows: number): Promise<{ model: string; data: string }> {
  const model = join(tmp, `${name}.onnx`);
  saveModel(model, buildArchitecture("mlp", { inputShape: shape, numClasses: 3, seed: 1 }));
  const rng = createRng(7);
  const x = float32(
    [rows, ...shape],
    Float32Array.from({ length: rows * sizeOf(shape) }, () => rng.next()),
  );
  const classifier = await OnnxClassifier.fromFile(model);
  const out = await classifier.predict(x);
  await classifier.release();
  const data = join(tmp, `${name}.npz`);
  saveNpz(data, {
    x,
    y: float32(
      [rows],
      Float32Array.from({ length: rows }, (_, i) => argmaxRow(out, i)),
    ),
  });
  return { model, data };
}

let tabular: { model: string; data: string };
let sequence: { model: string; data: string };

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "aegis-audit-kinds-"));
  tabular = await fixture("tabular", [8], 400);
  sequence = await fixture("sequence", [6, 4], 8);
});
after(() => rmSync(tmp, { recursive: true, force: true }));

const readReport = (out: string) => JSON.parse(readFileSync(join(out, "report.json"), "utf8")) as AuditReport;

for (const [kind, text] of [
  ["tabular", "tabular rows"],
  ["sequence", "sequences"],
] as const) {
  test(`the built-in suite on a ${kind} model finishes with a complete report, Square listed as skipped in every format`, async () => {
    const { model, data } = kind === "tabular" ? tabular : sequence;
    const out = join(tmp, `full-${kind}`);
    const r = await aegis(["audit", "--model", model, "--data", data, "--samples", "8", "--out", out, "--format", "json,html,md,junit,sarif"]);
    assert.ok(r.code === 0 || r.code === 10, r.stderr);
    assert.match(r.stderr, new RegExp(`\\(${text}: the built-in suite for them\\)`));
    const report = readReport(out);
    assert.ok(validate(report), JSON.stringify(validate.errors));
    assert.equal(report.model.input_kind, kind);
    assert.equal(report.interrupted, false);
    assert.equal(report.budget, null);
    // Square is image-only; NES, score-based like it, runs in its place.
    const reason = `works on images, not ${text}`;
    assert.deepEqual(
      report.attacks.map((a) => [a.id, a.status, a.reason]),
      [
        ["fgsm", "done", null],
        ["pgd", "done", null],
        ["cw-l2", "done", null],
        ["deepfool", "done", null],
        ["square", "skipped", reason],
        ["nes", "done", null],
        ["hopskipjump", "done", null],
        ["autoattack", "done", null],
      ],
    );
    for (const a of report.attacks.filter((x) => x.status === "done")) assert.ok(a.runs.length > 0 && a.runs.every((p) => p.samples === 8), a.id);
    assert.ok(report.warnings.includes(`square skipped: ${reason}`));
    assert.match(r.stdout, new RegExp(`square +skipped: ${reason}`));
    assert.match(readFileSync(join(out, "report.md"), "utf8"), new RegExp(`\\| square \\| skipped: ${reason} \\|`));
    assert.match(readFileSync(join(out, "report.html"), "utf8"), new RegExp(`<tr class="skipped">.*?square.*?${reason}`));
    assert.match(readFileSync(join(out, "report.junit.xml"), "utf8"), new RegExp(`<skipped message="skipped: ${reason}"`));
  });
}

test("--time-budget warms the attacks up, cuts what does not fit, and every format states the budget and the cuts", async () => {
  const out = join(tmp, "budget");
  const r = await aegis(["audit", "--model", tabular.model, "--data", tabular.data, "--time-budget", "5s", "--out", out, "--format", "json,html,md"]);
  assert.ok(r.code === 0 || r.code === 10, r.stderr);
  const report = readReport(out);
  assert.ok(validate(report), JSON.stringify(validate.errors));
  const budget = report.budget;
  assert.ok(budget);
  assert.equal(budget.seconds, 5);
  // 400 samples of the full suite cannot fit 5 s with the start-up: something is cut, and each cut is named.
  assert.equal(budget.cut, true);
  assert.ok(budget.cuts.length > 0);
  const cutRecords = report.attacks.filter((a) => a.cuts.length > 0);
  assert.deepEqual(
    budget.cuts,
    cutRecords.flatMap((a) => a.cuts.map((c) => `${a.id}: ${c}`)),
  );
  for (const a of report.attacks) {
    assert.ok(["done", "skipped", "interrupted", "not-run"].includes(a.status), `${a.id}: ${a.status} ${a.reason}`);
    // What ran with fewer samples than the suite gives it says so.
    const configured = a.id === "fgsm" || a.id === "pgd" ? 400 : a.id === "hopskipjump" ? 20 : 100;
    if (a.status === "done" && a.samples < configured) assert.ok(a.cuts.includes(`${a.samples} of ${configured} samples`), `${a.id}: ${a.cuts}`);
    if (a.status === "not-run") assert.equal(a.reason, "the time budget ran out before it");
    if (a.status === "interrupted") assert.match(a.reason ?? "", /^the time budget ran out during/);
  }
  assert.equal(report.interrupted, false, "a budget is not an interruption");
  const stated = /time budget 5\.0 s.*cut, so these numbers are not a full audit's/;
  assert.match(r.stdout, stated);
  assert.match(readFileSync(join(out, "report.md"), "utf8"), stated);
  assert.match(readFileSync(join(out, "report.html"), "utf8"), /Time budget.*time budget 5\.0 s/);
});

test("SIGTERM during an audit keeps the finished runs and writes the report, as Ctrl-C does", async () => {
  const config = join(tmp, "long.yaml");
  // PGD with far more iterations than it could finish: the signal lands during it.
  writeFileSync(
    config,
    "samples: 400\nattacks:\n  - attack: fgsm\n    eps: [0.1]\n  - attack: pgd\n    eps: [0.1, 0.3]\n    params: { maxIter: 1000000 }\n  - attack: deepfool\n    kind: minimum-norm\n",
  );
  const out = join(tmp, "sigterm");
  const { child } = await startAegis(
    ["audit", "--model", tabular.model, "--data", tabular.data, "--config", config, "--out", out],
    /(\[1\/\d+\] fgsm ε=0\.1: robust accuracy)/,
  );
  let stderr = "";
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  child.kill("SIGTERM");
  const { code } = await exited(child);
  assert.equal(code, 130, "the documented exit code of an interrupted run");
  assert.match(stderr, /interrupted: finishing the current step \(SIGTERM again to kill\)/);
  const report = readReport(out);
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.equal(report.interrupted, true);
  // The signal lands during PGD's million iterations, or just before PGD starts when it beats the next step.
  const [fgsm, pgd, deepfool] = report.attacks;
  assert.deepEqual([fgsm.id, fgsm.status, fgsm.runs.length], ["fgsm", "done", 1]);
  assert.ok(pgd.id === "pgd" && (pgd.status === "interrupted" || pgd.status === "not-run") && pgd.runs.length === 0, `pgd ${pgd.status}`);
  assert.deepEqual([deepfool.id, deepfool.status, deepfool.runs.length], ["deepfool", "not-run", 0]);
  assert.ok(report.warnings.includes("the audit was interrupted (Ctrl-C or SIGTERM): the report covers the runs that finished"));
});
