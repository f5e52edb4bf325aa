/**
 * DP analytics (privacy/dp: laplace.ts, gaussian.ts, exponential.ts, queries.ts, ledger.ts):
 * - the noise: Laplace's empirical variance is 2b², the Gaussian's σ², each within 5% on
 *   20,000 draws; the analytic Gaussian's σ matches scipy (scripts/dp_reference.py) and sits
 *   exactly at δ; the exponential mechanism picks in proportion to exp(εu/2);
 * - clamping: sums and means of out-of-bounds values equal those of the clamped values;
 * - the parser's and the queries' errors a user can cause;
 * - the ledger refuses the query that would overspend (several queries: all or none), records
 *   every release, and a failed release spends nothing;
 * - query files: shared bounds and domains, per-query ε, errors that name the line.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import {
  answerQuery,
  BudgetLedger,
  dpQuantile,
  exponentialMechanism,
  gaussianDelta,
  gaussianSigma,
  laplaceInterval,
  laplaceScale,
  parseQuery,
  type QuerySettings,
  readQueryFile,
  SecureRandom,
  sampleLaplace,
  type Table,
} from "../../src/privacy/index.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-dp-analytics-"));

function moments(values: number[]): { mean: number; variance: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return { mean, variance: values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) };
}

test("Laplace noise has variance 2b² and its 95% interval holds 95% of draws", () => {
  const random = SecureRandom.fromSeed(1);
  const b = laplaceScale(3, 0.5);
  assert.equal(b, 6);
  const draws = Array.from({ length: 20000 }, () => sampleLaplace(b, random));
  const { mean, variance } = moments(draws);
  assert.ok(Math.abs(variance / (2 * b * b) - 1) < 0.05, `variance ${variance}, want ${2 * b * b}`);
  assert.ok(Math.abs(mean) < 4 * Math.sqrt((2 * b * b) / draws.length), `mean ${mean}`);
  const inside = draws.filter((d) => Math.abs(d) <= laplaceInterval(b)).length / draws.length;
  assert.ok(Math.abs(inside - 0.95) < 0.006, `coverage ${inside}`);
  assert.throws(() => laplaceScale(1, 0), /ε must be a positive number/);
});

test("the analytic Gaussian's σ matches scipy, sits exactly at δ, and beats the classic calibration", () => {
  const reference = [
    { sensitivity: 1, epsilon: 1, delta: 1e-5, sigma: 3.730632 },
    { sensitivity: 1, epsilon: 0.1, delta: 1e-5, sigma: 30.749566 },
    { sensitivity: 2, epsilon: 3, delta: 1e-6, sigma: 3.087723 },
    { sensitivity: 1, epsilon: 10, delta: 1e-5, sigma: 0.499889 },
  ];
  for (const r of reference) {
    const sigma = gaussianSigma(r.sensitivity, r.epsilon, r.delta);
    assert.ok(Math.abs(sigma / r.sigma - 1) < 1e-6, `${JSON.stringify(r)}: σ ${sigma}`);
    assert.ok(Math.abs(gaussianDelta(sigma, r.sensitivity, r.epsilon) / r.delta - 1) < 1e-6);
  }
  const classic = gaussianSigma(1, 0.5, 1e-5, "classic");
  assert.ok(Math.abs(classic - Math.sqrt(2 * Math.log(1.25e5)) / 0.5) < 1e-12);
  assert.ok(gaussianSigma(1, 0.5, 1e-5) < 0.8 * classic);
  assert.throws(() => gaussianSigma(1, 2, 1e-5, "classic"), /ε < 1 only/);

  // Through a query: count() with the Gaussian mechanism has noise of variance σ².
  const table: Table = { name: "t", rows: 100, columns: new Map([["x", Array(100).fill(1)]]) };
  const settings: QuerySettings = { epsilon: 1, mechanism: "gaussian", delta: 1e-5, bounds: new Map(), domains: new Map() };
  const random = SecureRandom.fromSeed(2);
  const counts = Array.from({ length: 20000 }, () => answerQuery(table, parseQuery("count()"), settings, random).values[0].value);
  const { mean, variance } = moments(counts);
  assert.ok(Math.abs(variance / 3.730632 ** 2 - 1) < 0.05, `variance ${variance}`);
  assert.ok(Math.abs(mean - 100) < 0.15, `mean ${mean}`);
});

test("the exponential mechanism picks each candidate in proportion to exp(εu/2Δ), and quantiles land near the truth", () => {
  const random = SecureRandom.fromSeed(3);
  const utilities = [0, -1, -3];
  const epsilon = 1;
  const picks = [0, 0, 0];
  const n = 30000;
  for (let i = 0; i < n; i++) picks[exponentialMechanism(utilities, 1, epsilon, random)]++;
  const weights = utilities.map((u) => Math.exp((epsilon * u) / 2));
  const total = weights.reduce((a, b) => a + b, 0);
  for (let j = 0; j < 3; j++) {
    const p = weights[j] / total;
    assert.ok(Math.abs(picks[j] / n - p) < 4 * Math.sqrt((p * (1 - p)) / n), `candidate ${j}: ${picks[j] / n} vs ${p}`);
  }
  // 1,001 values 0..1000: the median at ε 1 lands within 20 of 500, the 0.9-quantile within 20 of 900.
  const values = Array.from({ length: 1001 }, (_, i) => i);
  for (const [p, want] of [
    [0.5, 500],
    [0.9, 900],
  ]) {
    const got = dpQuantile(values, p, 0, 1000, 1, random);
    assert.ok(Math.abs(got - want) < 20, `quantile ${p}: ${got}`);
  }
  // Values outside the bounds are clamped: the answer stays within them.
  assert.ok(dpQuantile([-50, -40, 500, 600], 0.5, 0, 100, 1, random) <= 100);
});

const people: Table = {
  name: "people.csv",
  rows: 6,
  columns: new Map<string, (string | number)[]>([
    ["age", ["20", "30", "250", "-5", "40", "60"]],
    ["region", ["north", "south", "north", "east", "south", "mars"]],
  ]),
};
const exact = (extra: Partial<QuerySettings> = {}): QuerySettings => ({
  epsilon: 1e9,
  mechanism: "laplace",
  bounds: new Map([["age", [0, 100] as const]]),
  domains: new Map([["region", ["north", "south", "east"]]]),
  ...extra,
});

test("sums and means clamp to the declared bounds; groups are the declared ones, other rows left out", () => {
  const random = SecureRandom.fromSeed(4);
  // Clamped: 20 + 30 + 100 + 0 + 40 + 60 = 250.
  const sum = answerQuery(people, parseQuery("sum(age)"), exact(), random).values[0].value;
  assert.ok(Math.abs(sum - 250) < 1e-6, `sum ${sum}`);
  const byRegion = answerQuery(people, parseQuery("mean(age) by region"), exact(), random).values;
  assert.deepEqual(
    byRegion.map((v) => v.group),
    ["north", "south", "east"],
  );
  const means = byRegion.map((v) => v.value);
  for (const [got, want] of [
    [means[0], 60],
    [means[1], 35],
    [means[2], 0],
  ])
    assert.ok(Math.abs(got - want) < 1e-6, `means ${means}`);
  const counts = answerQuery(people, parseQuery("count() by region"), exact(), random).values.map((v) => Math.round(v.value));
  assert.deepEqual(counts, [2, 2, 1]);
  const histogram = answerQuery(people, parseQuery("histogram(age)"), exact({ bins: 2 }), random).values;
  assert.deepEqual(
    histogram.map((v) => [v.group, Math.round(v.value)]),
    [
      ["[0, 50)", 4],
      ["[50, 100]", 2],
    ],
  );
  // A Laplace count's reported 95% error is b·log 20 with b = 1/ε.
  const count = answerQuery(people, parseQuery("count()"), exact({ epsilon: 0.5 }), random).values[0];
  assert.ok(Math.abs((count.error95 as number) - 2 * Math.log(20)) < 1e-12);
});

test("the parser and the queries refuse what a user can get wrong, saying what to write", () => {
  const code = (pattern: RegExp) => (e: Error & { code?: string }) => e.code === "BAD_OPTION" && pattern.test(e.message);
  assert.deepEqual(parseQuery(" quantile( income , 0.9 ) by region "), {
    aggregate: "quantile",
    column: "income",
    p: 0.9,
    by: "region",
    text: "quantile( income , 0.9 ) by region",
  });
  assert.equal(parseQuery("count(*)").column, undefined);
  assert.throws(() => parseQuery("avg(age)"), code(/"avg" is not a query: write count\(\)/));
  assert.throws(() => parseQuery("mean age"), code(/cannot read the query/));
  assert.throws(() => parseQuery("sum()"), code(/sum\(\) needs a column/));
  assert.throws(() => parseQuery("count(age)"), code(/count takes no column/));
  assert.throws(() => parseQuery("quantile(age, 2)"), code(/needs p in \[0, 1\]/));
  assert.throws(() => parseQuery("mean(age, 3)"), code(/takes one argument/));
  assert.throws(() => parseQuery("histogram(age) by region"), code(/already groups/));
  const random = SecureRandom.fromSeed(5);
  const none = exact({ bounds: new Map(), domains: new Map() });
  assert.throws(() => answerQuery(people, parseQuery("sum(age)"), none, random), code(/needs declared bounds.*--bounds age=LOW:HIGH/));
  assert.throws(() => answerQuery(people, parseQuery("mean(age)"), none, random), code(/--bounds age=/));
  assert.throws(() => answerQuery(people, parseQuery("count() by region"), none, random), code(/--domain region=A,B,C/));
  assert.throws(() => answerQuery(people, parseQuery("sum(height)"), exact(), random), code(/no column "height" \(columns: age, region\)/));
  assert.throws(() => answerQuery(people, parseQuery("count()"), exact({ mechanism: "gaussian" }), random), code(/needs --delta/));
  assert.throws(
    () => answerQuery(people, parseQuery("sum(region)"), exact({ bounds: new Map([["region", [0, 1] as const]]) }), random),
    (e: Error & { code?: string }) => e.code === "BAD_DATA" && /row 1, column "region": "north" is not a number/.test(e.message),
  );
});

test("the ledger refuses the query that would overspend, keeps every release, and a failed release spends nothing", () => {
  const path = join(tmp, "ledger.sqlite");
  assert.throws(() => BudgetLedger.open(path, "people.csv"), /new ledger: set the dataset's total budget with --budget/);
  const ledger = BudgetLedger.open(path, "people.csv", { epsilon: 1, delta: 0 });
  const request = (epsilon: number) => ({ query: "count()", mechanism: "laplace", epsilon, delta: 0, dataSha256: "ab".repeat(32) });
  // Releases of 0.1 and 0.2 fill a budget of 1 exactly, despite floating-point sums.
  for (let i = 0; i < 6; i++) assert.deepEqual(ledger.spend([request(0.1)], () => [i]).results, [i]);
  assert.throws(
    () =>
      ledger.spend([request(0.5)], () => {
        throw new Error("not reached: the budget check comes first");
      }),
    (e: Error & { code?: string }) => e.code === "POLICY_FAILED" && /needs ε 0.5 .* has ε 0.4, δ 0 left after 6 releases; nothing was released/.test(e.message),
  );
  // An exception while computing rolls the release back.
  assert.throws(() =>
    ledger.spend([request(0.2)], () => {
      throw new Error("bad query");
    }),
  );
  // Two at once are refused together when they do not both fit, and recorded together when they do.
  assert.throws(() => ledger.spend([request(0.3), request(0.3)], () => [0, 0]), /refused: these 2 queries need ε 0.6 /);
  ledger.spend([request(0.2), request(0.2)], () => [0, 0]);
  assert.throws(
    () => ledger.spend([request(0.01)], () => [0]),
    (e: Error & { code?: string }) => e.code === "POLICY_FAILED",
  );
  const status = ledger.status();
  assert.equal(status.releases.length, 8);
  assert.ok(Math.abs(status.spent.epsilon - 1) < 1e-9);
  assert.deepEqual(status.budget, { epsilon: 1, delta: 0 });
  assert.equal(status.releases[0].result, "0");
  ledger.close();
  // Reopened, the budget and the trail are still there; a budget is not raised.
  assert.throws(() => BudgetLedger.open(path, "people.csv", { epsilon: 5, delta: 0 }), /a budget is set once/);
  const again = BudgetLedger.open(path, "people.csv");
  assert.equal(again.status().releases.length, 8);
  again.close();
});

test("a query file gives shared bounds and domains and each query's ε, and its errors name the line and key", () => {
  const file = join(tmp, "queries.yaml");
  writeFileSync(
    file,
    [
      "bounds: { age: [0, 100] }",
      "domains: { region: [north, south, east] }",
      "queries:",
      '  - { query: "mean(age) by region", epsilon: 0.5 }',
      "  - query: count()",
      "    epsilon: 0.2",
      "    mechanism: gaussian",
      "    delta: 1.0e-7",
      '  - { query: "median(age)", epsilon: 0.3 }',
      "",
    ].join("\n"),
  );
  const plan = readQueryFile(file);
  assert.deepEqual(
    plan.queries.map((q) => [q.query.aggregate, q.epsilon, q.mechanism, q.delta]),
    [
      ["mean", 0.5, "laplace", undefined],
      ["count", 0.2, "gaussian", 1e-7],
      ["median", 0.3, "laplace", undefined],
    ],
  );
  assert.deepEqual(plan.bounds.get("age"), [0, 100]);
  assert.deepEqual(plan.domains.get("region"), ["north", "south", "east"]);
  const bad = (lines: string[], pattern: RegExp) => {
    writeFileSync(file, `${lines.join("\n")}\n`);
    assert.throws(
      () => readQueryFile(file),
      (e: Error & { code?: string }) => e.code === "BAD_OPTION" && pattern.test(e.message),
      lines.join(" / "),
    );
  };
  bad(["queries:", "  - { query: avg(age), epsilon: 1 }"], /queries\.yaml:2: queries\[0\]\.query "avg" is not a query/);
  bad(["queries:", "  - { query: count() }"], /queries\[0\]\.epsilon must be a number/);
  bad(["queries:", "  - { query: count(), epsilon: 1, mechanism: gaussian }"], /queries\[0\] uses the Gaussian mechanism and needs a delta/);
  bad(["bounds: { age: [100, 0] }", "queries:", "  - { query: count(), epsilon: 1 }"], /queries\.yaml:1: bounds\.age must have LOW < HIGH/);
  bad(["queries: []"], /queries must list at least one query/);
  bad(["querys:", "  - { query: count(), epsilon: 1 }"], /querys is not a known key/);
});
