/** `aegis audit` end to end through the real binary: reports, config and policy files, exit codes, Ctrl-C. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import type { ComparisonReport } from "../../src/audit/compare.js";
import type { AuditReport } from "../../src/audit/types.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { saveModel } from "../../src/onnx/io.js";
import { aegis } from "../helpers/cli.js";
import { sarifValidator, schemaValidator } from "../helpers/schemas.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-audit-"));
const validate = schemaValidator("audit-report.schema.json");
const write = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};

test("audit with no model writes JSON, HTML and Markdown reports on the bundled demo model and shows progress", async () => {
  const out = join(tmp, "default");
  // The built-in suite, cut to FGSM and PGD so the test stays fast.
  const r = await aegis(["audit", "--attacks", "fgsm,pgd", "--samples", "100", "--eps", "0.1,0.3", "--out", out]);
  assert.equal(r.code, 0, r.stderr);
  const report: AuditReport = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.equal(report.config.source, "built-in");
  assert.ok(report.clean_accuracy > 0.95, `clean accuracy ${report.clean_accuracy}`);
  const [fgsm, pgd] = report.attacks;
  assert.ok(fgsm.runs[1].robust_accuracy < fgsm.runs[0].robust_accuracy, "accuracy falls as ε grows");
  assert.ok(fgsm.runs[1].robust_accuracy < 0.3, `FGSM at ε=0.3 breaks an undefended CNN: ${fgsm.runs[1].robust_accuracy}`);
  assert.ok(pgd.runs[1].robust_accuracy <= 0.05, `PGD-40 at ε=0.3: ${pgd.runs[1].robust_accuracy}`);
  assert.equal(pgd.params.maxIter, 40, "the paper's defaults");
  assert.match(r.stderr, /\[1\/4\] fgsm ε=0\.1: robust accuracy/);
  assert.match(r.stderr, /\[4\/4\] pgd ε=0\.3: robust accuracy 0\.0%|\[4\/4\] pgd ε=0\.3: robust accuracy [0-5]\.\d%/);
  assert.match(r.stdout, /clean accuracy\s+9\d\.\d%/);
  assert.match(r.stdout, /report\s+.*report\.html/);
  const html = readFileSync(join(out, "report.html"), "utf8");
  assert.match(html, /<svg [^>]*class="chart"/);
  assert.ok((html.match(/src="data:image\/png;base64,/g) ?? []).length >= 3 * 8 * 2, "example images for both attacks");
  assert.match(readFileSync(join(out, "report.md"), "utf8"), /## Findings/);
});

test("a config file and a failing policy: reports are written, --json prints the report, exit code 10", async () => {
  const config = write(
    "suite.yaml",
    "seed: 1\nsamples: 60\nattacks:\n  - attack: fgsm\n    eps: [0.1, 0.3]\n  - attack: bim\n    eps: 0.1\n    params: { maxIter: 10, epsStep: 0.02 }\n",
  );
  const failing = write("strict.yaml", "min_clean_accuracy: 0.9\nmin_robust_accuracy:\n  bim@0.1: 0.95\n");
  const out = join(tmp, "strict");
  const r = await aegis(["audit", "--config", config, "--policy", failing, "--out", out, "--json", "--format", "json,html,sarif,junit"]);
  assert.equal(r.code, 10, r.stderr);
  assert.match(r.stderr, /policy failed: 1 of 2 rules not met \(bim@0\.1 robust accuracy 0\.\d+ < 0\.95\)/);
  const printed: AuditReport = JSON.parse(r.stdout);
  assert.ok(validate(printed), JSON.stringify(validate.errors));
  assert.equal(printed.policy?.passed, false);
  assert.equal(printed.config.seed, 1);
  assert.deepEqual(
    printed.attacks.map((a) => [a.id, a.runs.length]),
    [
      ["fgsm", 2],
      ["bim", 1],
    ],
  );
  assert.equal(printed.attacks[1].params.maxIter, 10);
  assert.deepEqual(JSON.parse(readFileSync(join(out, "report.json"), "utf8")).policy, printed.policy);
  assert.match(readFileSync(join(out, "report.html"), "utf8"), /Policy failed/);
  assert.ok(!existsSync(join(out, "report.md")), "only the formats asked for");

  // SARIF as a code-scanning UI takes it: valid 2.1.0, every result with a rule, a level and the model file as its location.
  const sarif = JSON.parse(readFileSync(join(out, "report.sarif"), "utf8")) as {
    runs: {
      tool: { driver: { rules: { id: string }[] } };
      results: { ruleId: string; ruleIndex: number; level: string; locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }[];
    }[];
  };
  const validSarif = sarifValidator();
  assert.ok(validSarif(sarif), JSON.stringify(validSarif.errors));
  const [run] = sarif.runs;
  assert.equal(run.results.length, printed.findings.length);
  for (const result of run.results) {
    assert.ok(run.tool.driver.rules[result.ruleIndex].id === result.ruleId);
    assert.ok(["error", "warning", "note"].includes(result.level));
    assert.equal(result.locations[0].physicalLocation.artifactLocation.uri, "models/mnist-cnn.onnx");
  }
  // JUnit: one case per attack and ε; the case the policy failed on fails, and the model-wide rule is a case of its own.
  const junit = readFileSync(join(out, "report.junit.xml"), "utf8");
  const cases = [...junit.matchAll(/<testcase name="([^"]+)"[^>]*?(\/>|>\s*<failure message="([^"]*)")/g)].map((m) => [m[1], m[3] ?? null]);
  assert.deepEqual(
    cases.map(([name, failure]) => [name, failure !== null]),
    [
      ["fgsm ε=0.1", false],
      ["fgsm ε=0.3", false],
      ["bim ε=0.1", true],
      ["policy min_clean_accuracy", false],
    ],
  );
  assert.match(cases[2][1] ?? "", /bim@0\.1 robust accuracy 0\.\d+ &lt; 0\.95/);
  assert.match(junit, /<testsuites name="aegis audit mnist-cnn\.onnx" tests="4" failures="1" errors="0" skipped="0"/);

  const lenient = write("lenient.yaml", "min_clean_accuracy: 0.9\nmin_robust_accuracy:\n  fgsm@0.3: 0.0\n");
  const ok = await aegis(["audit", "--config", config, "--attacks", "fgsm", "--policy", lenient, "--out", join(tmp, "lenient")]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /policy\s+passed \(2\/2 rules met\)/);
});

test("config and policy mistakes stop before any attack runs, naming the file, line and key (exit 2)", async () => {
  const badConfig = write("bad.yaml", "attacks:\n  - attack: pgd\n    eps: [0.1, 0.3]\n    params:\n      max_iter: 10\n");
  const out = join(tmp, "never");
  const r = await aegis(["audit", "--config", badConfig, "--out", out]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /bad\.yaml:5: attacks\[0\]\.params\.max_iter is not a parameter of pgd; it takes .*maxIter/);
  assert.doesNotMatch(r.stderr, /at .*\.ts:\d+/, "no stack trace");

  const badPolicy = write("bad-policy.yaml", "min_robust_accuracy:\n  pgd@0.15: 0.5\n");
  const p = await aegis(["audit", "--policy", badPolicy, "--attacks", "fgsm,pgd", "--out", out]);
  assert.equal(p.code, 2);
  assert.match(p.stderr, /bad-policy\.yaml:2: min_robust_accuracy\.pgd@0\.15 asks for ε = 0\.15, which pgd does not run; its ε are 0\.1, 0\.2, 0\.3/);
  assert.ok(!existsSync(out), "nothing ran, nothing was written");

  const missing = await aegis(["audit", "--config", join(tmp, "nope.yaml")]);
  assert.equal(missing.code, 3);
  const unknown = await aegis(["audit", "--attacks", "pgd,zzz"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /--attacks names "zzz", which the suite does not have/);
});

test("Ctrl-C stops the audit cleanly: the finished runs are in report.json with interrupted: true, exit 130", async () => {
  const config = write("long.yaml", "samples: 128\nattacks:\n  - attack: pgd\n    eps: [0.1, 0.2, 0.3]\n  - fgsm\n");
  const out = join(tmp, "interrupted");
  const bin = fileURLToPath(new URL("../../bin/aegis.js", import.meta.url));
  const child = spawn(process.execPath, [bin, "audit", "--config", config, "--out", out]);
  let stderr = "";
  const code = await new Promise<number | null>((resolve) => {
    child.stderr.on("data", (d) => {
      stderr += d;
      // Interrupt once the first run is reported, during the second.
      if (/\[1\/4\] pgd ε=0\.1: robust/.test(stderr) && !child.killed) child.kill("SIGINT");
    });
    child.on("close", resolve);
  });
  assert.equal(code, 130, stderr);
  assert.match(stderr, /interrupted: finishing the current step/);
  const report: AuditReport = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.ok(validate(report), JSON.stringify(validate.errors));
  assert.equal(report.interrupted, true);
  const [pgd, fgsm] = report.attacks;
  assert.equal(pgd.status, "interrupted");
  assert.ok(pgd.runs.length >= 1 && pgd.runs.length < 3, `kept ${pgd.runs.length} finished runs`);
  assert.equal(pgd.runs[0].eps, 0.1);
  assert.equal(fgsm.status, "not-run");
  assert.ok(existsSync(join(out, "report.html")) && existsSync(join(out, "report.md")));
});

const DEMO = fileURLToPath(new URL("../../models/mnist-cnn.onnx", import.meta.url));

test("--compare audits two models with one suite into one report; the policy is judged on the second model (exit 10)", async () => {
  // An untrained MLP (about 10% accuracy): measurably different from the CNN.
  const weak = join(tmp, "weak.onnx");
  saveModel(weak, buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 1 }));
  const policy = write("clean.yaml", "min_clean_accuracy: 0.9\n");
  const suite = ["--attacks", "fgsm", "--eps", "0.1,0.3", "--samples", "50", "--policy", policy];
  const out = join(tmp, "compare");
  const r = await aegis(["audit", "--compare", DEMO, weak, "--labels", "cnn,untrained", ...suite, "--out", out]);
  assert.equal(r.code, 10, r.stderr);
  assert.match(r.stderr, /policy failed by untrained: 1 of 1 rules not met \(clean accuracy 0\.\d+ < 0\.9\)/);
  assert.match(r.stderr, /cnn: \[2\/2\] fgsm ε=0\.3: robust accuracy/);
  assert.match(r.stderr, /untrained: \[2\/2\] fgsm ε=0\.3: robust accuracy/);
  const report: ComparisonReport = JSON.parse(readFileSync(join(out, "report.json"), "utf8"));
  assert.ok(validate(report), JSON.stringify(validate.errors));
  const c = report.comparison;
  assert.deepEqual([c.baseline_label, c.candidate_label, c.baseline.model.path, report.model.path], ["cnn", "untrained", DEMO, weak]);
  assert.deepEqual(
    c.rows.map((x) => x.key),
    ["fgsm@0.1", "fgsm@0.3"],
  );
  assert.ok(c.clean_accuracy.baseline > 0.9 && c.clean_accuracy.candidate < 0.3, JSON.stringify(c.clean_accuracy));
  assert.match(r.stdout, /clean accuracy\s+9\d\.\d%\s+\d+\.\d%\s+−\d+\.\d pts/);
  assert.match(
    r.stdout,
    /^untrained loses [\d.]+ points of fgsm robust accuracy at ε = 0\.\d \(L∞; [\d.]+% → [\d.]+%\) and loses [\d.]+ points of clean accuracy/m,
  );
  assert.match(readFileSync(join(out, "report.html"), "utf8"), /Aegis robustness comparison/);
  assert.match(readFileSync(join(out, "report.md"), "utf8"), /^# Aegis robustness comparison: cnn vs untrained/);

  // The other way round the CNN is judged and passes; labels default to the file names.
  const swapped = await aegis(["audit", "--compare", weak, DEMO, ...suite, "--out", join(tmp, "swapped"), "--json"]);
  assert.equal(swapped.code, 0, swapped.stderr);
  const s: ComparisonReport = JSON.parse(swapped.stdout);
  assert.deepEqual([s.comparison.baseline_label, s.comparison.candidate_label], ["weak", "mnist-cnn"]);
  assert.equal(s.policy?.passed, true);
  assert.deepEqual(
    s.comparison.rows.map((x) => [x.baseline, x.candidate]),
    c.rows.map((x) => [x.candidate, x.baseline]),
    "the same seeds: the same numbers in either order",
  );
});

test("--compare mistakes are refused with a sentence: one file, a missing file, different input shapes, bad labels", async () => {
  const one = await aegis(["audit", "--compare", DEMO]);
  assert.equal(one.code, 2);
  assert.match(one.stderr, /--compare takes two ONNX models, the baseline then the candidate \(aegis audit --compare base\.onnx hardened\.onnx\), not 1/);
  const missing = await aegis(["audit", "--compare", DEMO, join(tmp, "nope.onnx")]);
  assert.equal(missing.code, 3);
  assert.match(missing.stderr, /model file .*nope\.onnx was not found; check the path/);
  const flat = join(tmp, "flat.onnx");
  saveModel(flat, buildArchitecture("mlp", { inputShape: [784], numClasses: 10 }));
  const shapes = await aegis(["audit", "--compare", DEMO, flat, "--attacks", "fgsm", "--samples", "10", "--out", join(tmp, "never-compared")]);
  assert.equal(shapes.code, 6);
  assert.match(shapes.stderr, /mnist-cnn takes samples of shape \[1, 28, 28\] but flat takes \[784\]; --compare runs the same data through both/);
  assert.ok(!existsSync(join(tmp, "never-compared")));
  assert.doesNotMatch(shapes.stderr, /at .*\.ts:\d+/, "no stack trace");
  const labelsAlone = await aegis(["audit", "--labels", "a,b"]);
  assert.equal(labelsAlone.code, 2);
  assert.match(labelsAlone.stderr, /--labels names the two models of --compare/);
  const badLabels = await aegis(["audit", "--compare", DEMO, flat, "--labels", "same,same"]);
  assert.equal(badLabels.code, 2);
  assert.match(badLabels.stderr, /--labels takes two different names separated by a comma/);
  const both = await aegis(["audit", "--model", DEMO, "--compare", DEMO, flat]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--model and --compare cannot be combined/);
});
