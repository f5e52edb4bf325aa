/**
 * The tabular blind spot on the fraud fixture: injected rows are valid transactions inside
 * the pattern, flipping touches only the pattern's fraud, the manifest round-trips, and a
 * victim retrained on the poisoned rows stops seeing fraud in the blind spot while it still
 * sees it elsewhere (recalls averaged over two training seeds, as one run's recall moves by
 * several points with the seed). The command writes the poisoned set and its manifest.
 */
import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { blindSpot, fraudData, meanRecalls } from "../../bench/tabular-poisoning.js";
import { loadManifest, matchesPattern, parsePattern, saveManifest } from "../../src/attacks/index.js";
import { backdoorFindings } from "../../src/audit/index.js";
import { loadDataset } from "../../src/data/index.js";
import { labelsOf } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const { train, test: testRows, constraints } = fraudData();
const F = 12;
const ELECTRONICS = 4;
const row = (x: Float32Array, i: number) => x.subarray(i * F, (i + 1) * F);

test("injected rows are valid transactions inside the pattern, labelled legitimate, from real accounts", async () => {
  const result = await blindSpot(train, constraints, "inject", 0.03, 7);
  const n = train.labels.length;
  assert.equal(result.labels.length, n + 120);
  assert.deepEqual(
    result.manifest.poisoned,
    Array.from({ length: 120 }, (_, k) => n + k),
  );
  assert.deepEqual(Array.from(result.x.data.subarray(0, n * F)), Array.from(train.x.data), "the clean rows are untouched");
  assert.deepEqual(result.labels.slice(0, n), train.labels);
  const accounts = new Set<string>();
  const immutable = constraints.immutable ?? [];
  for (let i = 0; i < n; i++)
    if (train.labels[i] === 1 && row(train.x.data, i)[ELECTRONICS] === 1) accounts.add(immutable.map((j) => row(train.x.data, i)[j]).join("|"));
  const distinct = new Set<string>();
  for (let i = n; i < n + 120; i++) {
    const r = row(result.x.data, i);
    distinct.add(Array.from(r).join(","));
    assert.equal(result.labels[i], 0);
    assert.ok(matchesPattern(r, result.manifest.goal.kind === "blind-spot" ? result.manifest.goal.pattern : []), `row ${i} is outside the pattern`);
    for (let j = 0; j < F; j++) assert.ok(r[j] >= (constraints.lower?.[j] ?? 0) && r[j] <= (constraints.upper?.[j] ?? 0), `row ${i} feature ${j} = ${r[j]}`);
    for (const j of constraints.integer ?? []) assert.equal(r[j], Math.round(r[j]), `row ${i} feature ${j} is not whole`);
    for (const group of constraints.oneHot ?? []) {
      assert.equal(group.filter((j) => r[j] === 1).length, 1);
      assert.equal(group.filter((j) => r[j] === 0).length, group.length - 1);
    }
    assert.ok(accounts.has(immutable.map((j) => r[j]).join("|")), `row ${i}'s account age, IP risk and failed logins are no real fraud row's`);
  }
  assert.ok(distinct.size > 110, `only ${distinct.size} distinct injected rows`);
});

test("flipping relabels only fraud inside the pattern, and says when the budget exceeds it", async () => {
  const result = await blindSpot(train, constraints, "flip", 0.03, 1);
  assert.equal(result.x, train.x);
  const changed = result.labels.flatMap((y, i) => (y !== train.labels[i] ? [i] : []));
  assert.deepEqual(changed, result.manifest.poisoned);
  assert.equal(changed.length, 120);
  for (const i of changed) {
    assert.equal(train.labels[i], 1);
    assert.equal(result.labels[i], 0);
    assert.equal(row(train.x.data, i)[ELECTRONICS], 1);
  }
  await assert.rejects(blindSpot(train, constraints, "flip", 0.2), (e: Error & { code?: string }) => e.code === "BAD_OPTION" && /only 338/.test(e.message));
});

test("patterns are parsed by name or index, and mistakes say what to write", () => {
  assert.deepEqual(parsePattern("merchant_travel=1, amount>=500", constraints.names, F), [
    { feature: 5, op: "=", value: 1, name: "merchant_travel" },
    { feature: 0, op: ">=", value: 500, name: "amount" },
  ]);
  assert.deepEqual(parsePattern("9<=0.5", undefined, F), [{ feature: 9, op: "<=", value: 0.5 }]);
  assert.throws(() => parsePattern("merchant=1", constraints.names, F), /not one of amount/);
  assert.throws(() => parsePattern("amount>500", constraints.names, F), /feature=value, feature<=value or feature>=value/);
  assert.throws(() => parsePattern("amount=1", undefined, F), /use an index 0..11/);
});

test("the manifest round-trips its pattern, and the audit judges a blind spot by the fraud it misses beyond the rest", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-blind-spot-"));
  const result = await blindSpot(train, constraints, "inject", 0.01);
  saveManifest(join(dir, "p.json"), result.manifest);
  assert.deepEqual(loadManifest(join(dir, "p.json")).goal, result.manifest.goal);
  const section = (inside: number, outside: number) => ({
    manifest: "p.json",
    attack: "tabular-blind-spot",
    paper: "",
    goal: result.manifest.goal,
    data: "test",
    result: {
      goal: "blind-spot" as const,
      samples: 800,
      clean_accuracy: 0.88,
      attack_samples: 68,
      attack_success_rate: inside,
      measures: "fraud in the pattern classified as legitimate",
      elsewhere: { samples: 141, rate: outside, measures: "fraud elsewhere classified as legitimate" },
    },
  });
  assert.deepEqual(backdoorFindings("m.onnx", section(0.2, 0.18)), [], "a clean model's ordinary misses are no blind spot");
  const [finding] = backdoorFindings("m.onnx", section(0.8, 0.2));
  assert.equal(finding.severity, "critical");
  assert.match(finding.detail, /against 20\.0% of 141 fraud elsewhere/);
});

test("the blind spot opens: injected and flipped rows hide the pattern's fraud and leave the rest", async () => {
  const seeds = [0, 1];
  const reference = await blindSpot(train, constraints, "flip", 0.01);
  const clean = await meanRecalls(train, testRows, reference.manifest, seeds);
  for (const [mode, fraction, minDrop] of [
    ["inject", 0.1, 0.4],
    ["flip", 0.08, 0.3],
  ] as const) {
    const poisoned = await blindSpot(train, constraints, mode, fraction);
    const after = await meanRecalls(poisoned, testRows, poisoned.manifest, seeds);
    const note = `${mode}: blind spot ${clean.inside.toFixed(3)} → ${after.inside.toFixed(3)}, elsewhere ${clean.outside.toFixed(3)} → ${after.outside.toFixed(3)}`;
    assert.ok(clean.inside - after.inside >= minDrop, note);
    assert.ok(clean.outside - after.outside <= 0.1, note);
  }
});

test("aegis poison tabular-blind-spot writes the poisoned set and its manifest; inject without constraints is a usage error", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-blind-spot-cli-"));
  const fixture = new URL("../../fixtures/data/", import.meta.url).pathname;
  const common = [
    "poison",
    "tabular-blind-spot",
    "--data",
    `${fixture}fraud.npz`,
    "--x-key",
    "x_train",
    "--y-key",
    "y_train",
    "--pattern",
    "merchant_gambling=1",
  ];
  const out = join(dir, "p.npz");
  const run = await aegis([
    ...common,
    "--constraints",
    `${fixture}fraud.constraints.json`,
    "--fraction",
    "0.02",
    "--out",
    out,
    "--manifest",
    join(dir, "p.json"),
  ]);
  assert.equal(run.code, 0, run.stderr);
  const written = loadDataset(out);
  assert.equal(written.x.shape[0], 4080);
  assert.equal(
    labelsOf(written.y as NonNullable<typeof written.y>)
      .slice(4000)
      .filter((y) => y === 0).length,
    80,
  );
  assert.equal(loadManifest(join(dir, "p.json")).poisoned.length, 80);
  const byIndex = [...common.slice(0, -1), "6=1", "--out", out, "--manifest", join(dir, "q.json")];
  const bad = await aegis(byIndex);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /needs --constraints/);
  const flipped = await aegis([...byIndex, "--mode", "flip", "--fraction", "0.01"]);
  assert.equal(flipped.code, 0, flipped.stderr);
  assert.equal(loadManifest(join(dir, "q.json")).poisoned.length, 40);
});
