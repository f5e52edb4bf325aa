/**
 * `aegis privacy query` and `aegis privacy ledger` through the real binary: releases from a
 * CSV and an npz, the ledger beside the data that refuses the query past the budget (exit 10)
 * and lists every release, and the errors a user can cause (exit 2, no stack trace).
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeNpz } from "../../src/data/index.js";
import { tensor } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-privacy-query-"));

test("privacy query releases noisy answers from a CSV until the dataset's budget is spent, and the ledger lists them", async () => {
  const csv = join(tmp, "people.csv");
  const rows = Array.from({ length: 400 }, (_, i) => `${20 + (i % 50)},${["north", "south"][i % 2]}`);
  writeFileSync(csv, `age,region\n${rows.join("\n")}\n`);
  const first = await aegis([
    "privacy",
    "query",
    "--data",
    csv,
    "--epsilon",
    "1",
    "--budget",
    "1.5",
    "--bounds",
    "age=0:100",
    "--domain",
    "region=north,south",
    "mean(age) by region",
    "--json",
  ]);
  assert.equal(first.code, 0, first.stderr);
  const release = JSON.parse(first.stdout);
  assert.equal(release.mechanism, "laplace");
  assert.deepEqual(
    release.values.map((v: { group: string }) => v.group),
    ["north", "south"],
  );
  // True means 43.5 and 44.5; at ε 1 over 200 rows each the noise is a few units at most.
  for (const v of release.values) assert.ok(Math.abs(v.value - 44) < 8, JSON.stringify(v));
  assert.deepEqual(release.spent, { epsilon: 1, delta: 0 });

  const count = await aegis(["privacy", "query", "--data", csv, "--epsilon", "0.5", "count()"]);
  assert.equal(count.code, 0, count.stderr);
  assert.match(count.stdout, /^count\(\) {2}\[laplace, ε 0\.5\]\n {2}\d+(\.\d+)? {2}\(± 5\.99146 at 95%\)/);
  assert.match(count.stderr, /release #2 recorded in .*people\.csv\.dp-ledger\.sqlite: spent ε 1\.5 of 1\.5/);

  const refused = await aegis(["privacy", "query", "--data", csv, "--epsilon", "0.1", "count()"]);
  assert.equal(refused.code, 10);
  assert.match(refused.stderr, /refused: "count\(\)" needs ε 0\.1 .* has ε 0, δ 0 left after 2 releases; nothing was released/);
  assert.equal(refused.stdout, "");

  const ledger = await aegis(["privacy", "ledger", `${csv}.dp-ledger.sqlite`]);
  assert.equal(ledger.code, 0, ledger.stderr);
  assert.match(ledger.stdout, /people\.csv: budget ε 1\.5, δ 0; spent ε 1\.5, δ 0 in 2 releases/);
  assert.match(ledger.stdout, /#1 .* mean\(age\) by region \[laplace, ε 1\]/);
  assert.match(ledger.stdout, /#2 .* count\(\) \[laplace, ε 0\.5\]/);
  const notLedger = await aegis(["privacy", "ledger", csv]);
  assert.equal(notLedger.code, 5, notLedger.stderr);
  assert.match(notLedger.stderr, /is not an Aegis privacy ledger|cannot open the privacy ledger/);
});

test("privacy query reads npz columns and uses the Gaussian mechanism's δ budget", async () => {
  const npz = join(tmp, "scores.npz");
  writeFileSync(
    npz,
    encodeNpz({
      score: tensor(
        "float64",
        [300],
        Float64Array.from({ length: 300 }, (_, i) => i / 3),
      ),
    }),
  );
  const args = [
    "privacy",
    "query",
    "--data",
    npz,
    "--budget",
    "2",
    "--budget-delta",
    "1e-6",
    "--mechanism",
    "gaussian",
    "--delta",
    "1e-6",
    "--bounds",
    "score=0:100",
  ];
  const sum = await aegis([...args, "--epsilon", "1", "sum(score)", "--json"]);
  assert.equal(sum.code, 0, sum.stderr);
  const release = JSON.parse(sum.stdout);
  // Σ i/3 for i < 300 = 14,950; Δ = 100, analytic σ at ε 1, δ 1e-6 is about 410.
  assert.ok(Math.abs(release.values[0].value - 14950) < 2000, JSON.stringify(release));
  assert.ok(release.values[0].noiseStd > 350 && release.values[0].noiseStd < 450);
  const overDelta = await aegis([...args, "--epsilon", "0.5", "count()"]);
  assert.equal(overDelta.code, 10);
  assert.match(overDelta.stderr, /needs ε 0\.5, δ 0\.000001/);
});

test("privacy query --file releases every query of a YAML file, or none when they do not all fit the budget", async () => {
  const csv = join(tmp, "file.csv");
  writeFileSync(csv, `age,region\n${Array.from({ length: 100 }, (_, i) => `${i},${i % 2 ? "a" : "b"}`).join("\n")}\n`);
  const queries = join(tmp, "queries.yaml");
  writeFileSync(
    queries,
    'bounds: { age: [0, 100] }\ndomains: { region: [a, b] }\nqueries:\n  - { query: "count() by region", epsilon: 0.4 }\n  - { query: "median(age)", epsilon: 0.4 }\n',
  );
  const run = await aegis(["privacy", "query", "--data", csv, "--budget", "1", "--file", queries, "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const out = JSON.parse(run.stdout);
  assert.deepEqual(
    out.releases.map((r: { query: string; mechanism: string; release: number }) => [r.query, r.mechanism, r.release]),
    [
      ["count() by region", "laplace", 1],
      ["median(age)", "exponential", 2],
    ],
  );
  assert.ok(Math.abs(out.spent.epsilon - 0.8) < 1e-12);
  const again = await aegis(["privacy", "query", "--data", csv, "--file", queries]);
  assert.equal(again.code, 10);
  assert.match(again.stderr, /refused: these 2 queries need ε 0\.8 .* has ε 0\.2, δ 0 left after 2 releases; nothing was released/);
  const both = await aegis(["privacy", "query", "--data", csv, "--file", queries, "--epsilon", "0.1", "count()"]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /not both/);
});

test("privacy query refuses unbounded sums, undeclared groups, bad options and a new ledger without a budget", async () => {
  const csv = join(tmp, "other.csv");
  writeFileSync(csv, "age,region\n30,north\n40,south\n");
  const cases: [string[], RegExp][] = [
    [["--epsilon", "1", "sum(age)"], /needs declared bounds.*--bounds age=LOW:HIGH/],
    [["--epsilon", "1", "count() by region"], /--domain region=A,B,C/],
    [["--epsilon", "1", "--bounds", "age=100:0", "mean(age)"], /--bounds takes COLUMN=LOW:HIGH with finite LOW < HIGH/],
    [["--epsilon", "1", "average(age)"], /"average" is not a query/],
    [["--epsilon", "1", "--delta", "1e-6", "count()"], /--delta is for --mechanism gaussian/],
  ];
  for (const [extra, pattern] of cases) {
    const run = await aegis(["privacy", "query", "--data", csv, "--budget", "5", ...extra]);
    assert.equal(run.code, 2, `${extra.join(" ")}: ${run.stderr}`);
    assert.match(run.stderr, pattern);
    assert.doesNotMatch(run.stderr, /at .*\.ts:\d+/);
  }
  const noBudget = await aegis(["privacy", "query", "--data", join(tmp, "fresh.csv"), "--epsilon", "1", "count()"]);
  assert.equal(noBudget.code, 3);
  writeFileSync(join(tmp, "fresh.csv"), "age\n1\n");
  const fresh = await aegis(["privacy", "query", "--data", join(tmp, "fresh.csv"), "--epsilon", "1", "count()"]);
  assert.equal(fresh.code, 2);
  assert.match(fresh.stderr, /new ledger: set the dataset's total budget with --budget/);
});
