/**
 * `aegis repair retrain` through the real binary on the held-out PyTorch-poisoned slice
 * (fixtures/backdoor: 1,000 training rows, 82 of them stamped with a checkerboard and
 * relabelled 7 by scripts/make_backdoor_fixtures.py): activation clustering run by the
 * command, the flagged rows removed, the model's architecture trained afresh, the numbers
 * before and after in JSON. An inspection of other data and --samples are refused.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { aegis } from "../helpers/cli.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-repair-retrain-"));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = (name: string) => new URL(`../../fixtures/backdoor/${name}`, import.meta.url).pathname;
const retrain = (...extra: string[]) =>
  aegis([
    "repair",
    "retrain",
    "--model",
    fixture("torch_checker.onnx"),
    "--data",
    fixture("torch_checker_slice.npz"),
    "--test-data",
    "mnist",
    "--manifest",
    fixture("torch_checker_slice.json"),
    "--epochs",
    "10",
    "--out",
    join(dir, "retrained.onnx"),
    ...extra,
  ]);

test("repair retrain removes the rows activation clustering flags and retrains the architecture without the backdoor", async () => {
  const r = await retrain("--json");
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(result.method, "retrain");
  assert.equal(result.retrain.rows, 1000);
  // Activation clustering finds ≥ 95% of the 82 poisoned rows at ≤ 2% false positives (backdoor-held-out.test.ts).
  assert.ok(result.retrain.poisoned_left <= 4, `poisoned rows left in: ${result.retrain.poisoned_left}`);
  assert.ok(result.retrain.removed <= 82 + 19, `removed ${result.retrain.removed}`);
  assert.ok(result.before.attack_success_rate > 0.95, `before: ${result.before.attack_success_rate}`);
  assert.ok(result.after.attack_success_rate < 0.05, `after: ${result.after.attack_success_rate}`);
  assert.ok(result.after.clean_accuracy > 0.85, `clean accuracy after: ${result.after.clean_accuracy}`);
});

test("repair retrain refuses an inspection of other data, and --samples", async () => {
  const other = join(dir, "other.json");
  writeFileSync(other, JSON.stringify({ rows: 500, suspected: [{ row: 3, label: 7, score: 1 }] }));
  const mismatch = await retrain("--inspection", other);
  assert.equal(mismatch.code, 6, mismatch.stderr);
  assert.match(mismatch.stderr, /inspected 500 rows but --data has 1000/);
  const notReport = join(dir, "not-report.json");
  writeFileSync(notReport, JSON.stringify({ triggers: [] }));
  const wrong = await retrain("--inspection", notReport);
  assert.equal(wrong.code, 5, wrong.stderr);
  assert.match(wrong.stderr, /not an aegis inspect-data report/);
  const samples = await retrain("--samples", "100");
  assert.equal(samples.code, 2, samples.stderr);
  assert.match(samples.stderr, /retrain takes every row of --data/);
});
