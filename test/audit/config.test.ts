/** audit.yaml and policy.yaml: what they accept, the errors that name file, line and key, and policy verdicts. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { type AuditConfig, applyOverrides, defaultAuditConfig, parseAuditConfig } from "../../src/audit/config.js";
import { evaluatePolicy, parsePolicy } from "../../src/audit/policy.js";
import type { AttackRecord, AuditReport } from "../../src/audit/types.js";
import type { Finding } from "../../src/report/finding.js";
import { parseYaml } from "../../src/report/yaml.js";

const config = (text: string) => parseAuditConfig(parseYaml(text, "audit.yaml"));
const policy = (text: string, c: AuditConfig) => parsePolicy(parseYaml(text, "policy.yaml"), c);

test("the default suite names FGSM and PGD at three ε, C&W L2, DeepFool, Square, HopSkipJump and AutoAttack", () => {
  const c = defaultAuditConfig();
  assert.deepEqual(
    c.attacks.map((e) => e.attack),
    ["fgsm", "pgd", "cw-l2", "deepfool", "square", "hopskipjump", "autoattack"],
  );
  assert.deepEqual(c.attacks[1].eps, [0.1, 0.2, 0.3]);
  assert.deepEqual(
    c.attacks.filter((e) => e.kind === "minimum-norm").map((e) => e.id),
    ["cw-l2", "deepfool", "hopskipjump"],
  );
  assert.equal(c.samples, 500);
  assert.ok(
    c.attacks.slice(2).every((e) => (e.samples ?? 500) <= 100),
    "the expensive attacks run on a sample",
  );
});

test("the example files in examples/ parse against the registry", () => {
  const file = new URL("../../examples/audit.yaml", import.meta.url).pathname;
  const c = parseAuditConfig(parseYaml(readFileSync(file, "utf8"), file));
  assert.ok(c.attacks.length >= 5);
  const policyText = readFileSync(new URL("../../examples/policy.yaml", import.meta.url), "utf8");
  for (const suite of [c, defaultAuditConfig()]) assert.ok(parsePolicy(parseYaml(policyText, "policy.yaml"), suite).minRobustAccuracy.length >= 1);
});

test("a config: shorthand entries, ε as a number or list, norms, ids, targeted, params, kinds", () => {
  const c = config(`
seed: 7
samples: 300
batch_size: 64
attacks:
  - fgsm
  - attack: pgd
    eps: [0.1, 0.3]
    params: { maxIter: 20, restarts: 2 }
  - attack: pgd
    id: pgd-l2
    norm: 2
    eps: 1.5
    targeted: true
  - attack: deepfool
    samples: 50
`);
  assert.equal(c.seed, 7);
  assert.equal(c.samples, 300);
  assert.equal(c.batchSize, 64);
  assert.equal(c.lenientParams, false);
  assert.deepEqual(c.attacks[0], { id: "fgsm", attack: "fgsm", kind: "curve" });
  assert.deepEqual(c.attacks[1].params, { maxIter: 20, restarts: 2 });
  assert.deepEqual(c.attacks[2], { id: "pgd-l2", attack: "pgd", kind: "curve", eps: [1.5], norm: "2", targeted: true });
  // Minimum-norm by its name.
  assert.deepEqual(c.attacks[3], { id: "deepfool", attack: "deepfool", kind: "minimum-norm", samples: 50 });
});

test("config errors name the file, the line and the key, and say what to write", () => {
  const cases: [string, RegExp][] = [
    ["seed: 1\nsampels: 10\nattacks: [fgsm]\n", /^audit\.yaml:2: sampels is not a known key; use seed, samples, batch_size, time_budget, attacks$/],
    ["attacks:\n  - attack: pgd\n    eps: [0.1, -1]\n", /^audit\.yaml:3: attacks\[0\]\.eps\[1\] must be a number ≥ 0, not -1$/],
    [
      "attacks:\n  - fgsm\n  - attack: pgd\n    params:\n      max_iter: 10\n",
      /^audit\.yaml:5: attacks\[1\]\.params\.max_iter is not a parameter of pgd; it takes .*maxIter/,
    ],
    ['attacks:\n  - attack: pgd\n    params: { maxIter: "ten" }\n', /attacks\[0\]\.params\.maxIter must be a number like its default \(40\), not "ten"/],
    ["attacks:\n  - attack: pgd\n    params: { eps: 0.1 }\n", /attacks\[0\]\.params\.eps is set at the attack's level/],
    ["attacks:\n  - attack: pgd\n    norm: 3\n", /^audit\.yaml:3: attacks\[0\]\.norm must be one of inf, 2, 1, not "3"$/],
    ["attacks:\n  - attack: pgdd\n", /^audit\.yaml:2: attacks\[0\]\.attack names no attack \("pgdd"\); aegis attack --list shows them$/],
    ["attacks:\n  - attack: cw-l2\n    eps: 0.5\n", /attacks\[0\]\.eps is not used by cw-l2, a minimum-norm attack .*set kind: curve/],
    ["attacks: [fgsm, fgsm]\n", /repeats the id "fgsm" of attacks\[0\]; give one of them another id/],
    ["attacks: []\n", /attacks is empty/],
    ["time_budget: soon\nattacks: [fgsm]\n", /^audit\.yaml:1: time_budget takes a duration such as 300, 90s, 10m or 1h30m, not "soon"$/],
    ["seed: 1\n", /attacks is missing/],
    ["attacks:\n  - attack: pgd\n    eps: [0.1\n", /^audit\.yaml:\d+:\d+: not valid YAML/],
    ["attacks:\n  - attack: pgd\n    id: pgd at 0.1\n", /attacks\[0\]\.id "pgd at 0\.1" may hold only letters/],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => config(text),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, "BAD_OPTION");
        assert.match(e.message, message);
        return true;
      },
    );
  }
});

test("time_budget: seconds or a duration; --time-budget replaces it", () => {
  assert.equal(config("time_budget: 10m\nattacks: [fgsm]\n").timeBudget, 600);
  assert.equal(config("time_budget: 90\nattacks: [fgsm]\n").timeBudget, 90);
  assert.equal(config("attacks: [fgsm]\n").timeBudget, undefined);
  assert.equal(applyOverrides(config("time_budget: 10m\nattacks: [fgsm]\n"), { timeBudget: 300 }).timeBudget, 300);
});

test("command-line overrides: --attacks picks entries, --samples caps, --eps replaces the curves' lists", () => {
  const c = applyOverrides(defaultAuditConfig(), { attacks: ["pgd", "cw-l2"], samples: 200, eps: [0.05], seed: 3 });
  assert.deepEqual(
    c.attacks.map((e) => [e.id, e.samples, e.eps]),
    [
      ["pgd", 200, [0.05]],
      ["cw-l2", 100, undefined],
    ],
  );
  assert.equal(c.samples, 200);
  assert.equal(c.seed, 3);
  assert.throws(() => applyOverrides(defaultAuditConfig(), { attacks: ["nope"] }), /--attacks names "nope", which the suite does not have/);
});

test("policy keys are checked against the suite before anything runs", () => {
  const c = defaultAuditConfig();
  const p = policy(
    "min_clean_accuracy: 0.9\nmin_robust_accuracy:\n  pgd@0.1: 0.6\n  cw-l2@1.0: 0.2\nmax_success_rate:\n  cw-l2: 0.99\n  fgsm@0.3: 1\nmin_median_perturbation:\n  deepfool: 0.5\nfail_on_severity: high\n",
    c,
  );
  assert.equal(p.minCleanAccuracy, 0.9);
  assert.deepEqual(p.minRobustAccuracy[0], { key: "pgd@0.1", id: "pgd", eps: 0.1, threshold: 0.6 });
  assert.deepEqual(p.maxSuccessRate[0], { key: "cw-l2", id: "cw-l2", eps: null, threshold: 0.99 });
  assert.equal(p.failOnSeverity, "high");
  const cases: [string, RegExp][] = [
    [
      "min_robust_accuracy:\n  pgd@0.15: 0.5\n",
      /: policy\.yaml:2: min_robust_accuracy\.pgd@0\.15 asks for ε = 0\.15, which pgd does not run; its ε are 0\.1, 0\.2, 0\.3/,
    ],
    ["min_robust_accuracy:\n  pgd: 0.5\n", /needs the ε of pgd: write pgd@ε with ε one of 0\.1, 0\.2, 0\.3/],
    ["min_robust_accuracy:\n  jsma@0.1: 0.5\n", /names "jsma", which the audit suite does not run; it runs fgsm, pgd/],
    ["min_robust_accuracy:\n  pgd@0.1: 60\n", /must be a number ≥ 0 and ≤ 1, not 60/],
    ["max_success_rate:\n  deepfool@0.5: 0.5\n", /takes the plain id "deepfool": a minimum-norm attack has no ε/],
    ["min_median_perturbation:\n  pgd@0.1: 0.5\n", /applies to minimum-norm attacks; pgd runs at fixed ε/],
    ["min_robust_acuracy:\n  pgd@0.1: 0.5\n", /policy\.yaml:1: min_robust_acuracy is not a known key/],
    ["fail_on_severity: urgent\n", /fail_on_severity must be one of critical, high, medium, low, info, not "urgent"/],
    ["min_robust_accuracy:\n  pgd@abc: 0.5\n", /has "abc" after @/],
  ];
  for (const [text, message] of cases) assert.throws(() => policy(text, c), message);
});

test("policy verdicts: thresholds met or not, unevaluable rules fail, severities", () => {
  const c = defaultAuditConfig();
  const perturbation = { linf_mean: 0, linf_median: 0, l2_mean: 0, l2_median: 0, l0_mean: 0, l0_median: 0 };
  const run = (eps: number | null, robust: number, success: number) => ({
    eps,
    samples: 4,
    clean_accuracy: 1,
    robust_accuracy: robust,
    success_rate: success,
    perturbation,
    queries: null,
    seconds: 1,
    per_class: [],
  });
  const base = {
    kind: "curve",
    status: "done",
    reason: null,
    title: "t",
    paper: "p",
    access: "white-box",
    norm: "inf",
    targeted: false,
    samples: 4,
    params: {},
    seconds: 1,
    estimate_seconds: null,
    cuts: [],
  };
  const attacks = [
    { ...base, id: "pgd", attack: "pgd", runs: [run(0.1, 0.75, 0.25)], curve: [], min_norms: null, examples: null },
    // Sample 0 already misclassified, 1 and 2 broken at sizes 0.5 and 1.5, 3 resisted.
    {
      ...base,
      id: "cw-l2",
      attack: "cw-l2",
      kind: "minimum-norm",
      norm: "2",
      runs: [run(null, 0, 2 / 3)],
      curve: [],
      min_norms: [0, 0.5, 1.5, null],
      examples: null,
    },
    {
      ...base,
      id: "deepfool",
      attack: "deepfool",
      kind: "minimum-norm",
      status: "skipped",
      reason: "needs classGradient, which the model does not give",
      runs: [],
      curve: [],
      min_norms: null,
      examples: null,
    },
  ] as AttackRecord[];
  const findings = [{ rule: "F1", severity: "medium" }] as Finding[];
  const report = { clean_accuracy: 0.98, attacks, findings } as unknown as AuditReport;
  const v = evaluatePolicy(
    policy(
      "min_clean_accuracy: 0.97\nmin_robust_accuracy:\n  pgd@0.1: 0.7\n  cw-l2@1.0: 0.5\n  cw-l2@0.4: 0.75\n  deepfool@1: 0.1\nmax_success_rate:\n  pgd@0.1: 0.2\nmin_median_perturbation:\n  cw-l2: 1.5\nfail_on_severity: high\n",
      c,
    ),
    report,
  );
  const byKey = Object.fromEntries(v.rules.map((r) => [`${r.rule} ${r.key}`, r]));
  assert.equal(byKey["min_clean_accuracy null"].passed, true);
  assert.equal(byKey["min_robust_accuracy pgd@0.1"].passed, true);
  // At ε=1.0 sample 2 (1.5) and 3 (failed) stay robust: 2/4.
  assert.equal(byKey["min_robust_accuracy cw-l2@1.0"].actual, 0.5);
  assert.equal(byKey["min_robust_accuracy cw-l2@1.0"].passed, true);
  assert.equal(byKey["min_robust_accuracy cw-l2@0.4"].actual, 0.75);
  assert.equal(byKey["min_robust_accuracy deepfool@1"].passed, false);
  assert.match(byKey["min_robust_accuracy deepfool@1"].detail, /not evaluated: deepfool was skipped \(needs classGradient, which the model does not give\)/);
  assert.equal(byKey["max_success_rate pgd@0.1"].passed, false);
  assert.match(byKey["max_success_rate pgd@0.1"].detail, /success rate 0\.25 > 0\.2/);
  // Median over samples it had to attack: 0.5, 1.5, ∞ → 1.5.
  assert.equal(byKey["min_median_perturbation cw-l2"].actual, 1.5);
  assert.equal(byKey["min_median_perturbation cw-l2"].passed, true);
  assert.equal(byKey["fail_on_severity null"].passed, true);
  assert.equal(v.passed, false);
  const strict = evaluatePolicy(policy("fail_on_severity: medium\n", c), report);
  assert.equal(strict.passed, false);
  assert.match(strict.rules[0].detail, /1 finding\(s\) of severity medium or above: F1/);
});
