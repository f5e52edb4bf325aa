/**
 * Tabular constraints on the fraud fixture (scripts/make-fraud-fixture.ts): an MLP that
 * takes raw transaction features, and the constraints file a user would give with
 * `--constraints`. A constrained attack must only return transactions that could exist,
 * and still turn fraud into "legit".
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadConstraintsFile, parseConstraints } from "../../src/attacks/constraints-file.js";
import { fgsm } from "../../src/attacks/evasion/fgsm.js";
import { pgd } from "../../src/attacks/evasion/pgd.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import type { FeatureConstraints } from "../../src/attacks/types.js";
import { parseNpz } from "../../src/data/npz.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { gatherRows, labelsOf, type Tensor, toFloat32 } from "../../src/tensor.js";

const fixture = (path: string) => new URL(`../../fixtures/${path}`, import.meta.url).pathname;
const F = 12;
const constraintsPath = fixture("data/fraud.constraints.json");
const constraints = loadConstraintsFile(constraintsPath, F);
const data = parseNpz(readFileSync(fixture("data/fraud.npz")));
const xTest = toFloat32(data.get("x_test") as Tensor);
const yTest = labelsOf(data.get("y_test") as Tensor);
const INTEGER = [1, 2, 10, 11];
const MERCHANT = [3, 4, 5, 6];

/** Test transactions that are fraud and that the model flags, with "legit" (0) as the target. */
async function flaggedFraud(clf: OnnxClassifier) {
  const out = await clf.predict(xTest);
  const rows = yTest.flatMap((c, i) => (c === 1 && argmaxRow(out, i) === 1 ? [i] : []));
  return { x: gatherRows(xTest, rows), labels: rows.map(() => 1), targets: rows.map(() => 0) };
}

/** Why sample i of adv is not a valid transaction derived from x (undefined when it is). */
function violation(adv: Tensor<"float32">, x: Tensor<"float32">, i: number, c: FeatureConstraints): string | undefined {
  const a = adv.data.subarray(i * F, (i + 1) * F);
  const o = x.data.subarray(i * F, (i + 1) * F);
  for (const j of c.immutable ?? []) if (a[j] !== o[j]) return `immutable feature ${j} changed from ${o[j]} to ${a[j]}`;
  for (const j of INTEGER) if (!Number.isInteger(a[j])) return `integer feature ${j} is ${a[j]}`;
  if (!MERCHANT.every((j) => a[j] === 0 || a[j] === 1) || MERCHANT.filter((j) => a[j] === 1).length !== 1) {
    return `merchant one-hot is [${MERCHANT.map((j) => a[j]).join(", ")}]`;
  }
  for (let j = 0; j < F; j++) {
    if (a[j] < (c.lower?.[j] ?? -Infinity) || a[j] > (c.upper?.[j] ?? Infinity)) return `feature ${j} = ${a[j]} is out of bounds`;
  }
  return undefined;
}

test("the fraud fixture's constraints file loads with names resolved to indices", () => {
  assert.deepEqual(constraints.immutable, [2, 9, 10]);
  assert.deepEqual(constraints.integer, INTEGER);
  assert.deepEqual(constraints.oneHot, [MERCHANT]);
  assert.equal(constraints.upper?.[0], 10000);
  assert.equal(constraints.lower?.[1], 0);
});

test("constrained PGD only returns feasible transactions and still turns ≥ 80% of flagged fraud into legit; unconstrained PGD does not", async () => {
  const clf = await OnnxClassifier.fromFile(fixture("models/fraud_mlp.onnx"), { clipRange: [0, 10000] });
  const fraud = await flaggedFraud(clf);
  assert.ok(fraud.labels.length >= 200, `${fraud.labels.length} flagged fraud samples`);
  // ε = 20 raw units: $20, 20 km, 20 minutes; bounds limit the small-range features.
  const params = { ...pgd.defaults, eps: 20, targeted: true };
  const constrained = await pgd.run(clf, fraud.x, fraud.targets, { ...params, constraints }, { rng: createRng(0) });
  for (let i = 0; i < fraud.labels.length; i++) {
    const why = violation(constrained.x, fraud.x, i, constraints);
    assert.equal(why, undefined, `sample ${i}: ${why}`);
  }
  const m = await attackMetrics(clf, fraud.x, constrained.x, fraud.labels, { targets: fraud.targets });
  assert.ok(m.success_rate >= 0.8, `constrained success ${m.success_rate}`);

  const free = await pgd.run(clf, fraud.x, fraud.targets, params, { rng: createRng(0) });
  const infeasible = fraud.labels.filter((_, i) => violation(free.x, fraud.x, i, constraints) !== undefined).length;
  assert.ok(infeasible >= 0.9 * fraud.labels.length, `${infeasible} of ${fraud.labels.length} unconstrained examples are infeasible`);
  await clf.release();
});

test("small PGD steps still move integer counts and switch the merchant category (the iterate is rounded only when evaluated)", async () => {
  const clf = await OnnxClassifier.fromFile(fixture("models/fraud_mlp.onnx"), { clipRange: [0, 10000] });
  const fraud = await flaggedFraud(clf);
  // Steps of 2.5·2/40 = 0.125 would round back to the start every iteration.
  const params = { ...pgd.defaults, eps: 2, targeted: true, randomInit: false, constraints };
  const out = await pgd.run(clf, fraud.x, fraud.targets, params, { rng: createRng(0) });
  let countsMoved = 0;
  let merchantSwitched = 0;
  for (let i = 0; i < fraud.labels.length; i++) {
    assert.equal(violation(out.x, fraud.x, i, constraints), undefined);
    if (out.x.data[i * F + 1] !== fraud.x.data[i * F + 1]) countsMoved++;
    if (MERCHANT.some((j) => out.x.data[i * F + j] !== fraud.x.data[i * F + j])) merchantSwitched++;
  }
  const m = await attackMetrics(clf, fraud.x, out.x, fraud.labels, { targets: fraud.targets });
  assert.ok(countsMoved >= 0.3 * fraud.labels.length, `transaction count moved in ${countsMoved} samples`);
  assert.ok(merchantSwitched >= 0.3 * fraud.labels.length, `merchant switched in ${merchantSwitched} samples`);
  assert.ok(m.success_rate >= 0.5, `success ${m.success_rate}`);
  await clf.release();
});

test("constrained FGSM returns feasible transactions", async () => {
  const clf = await OnnxClassifier.fromFile(fixture("models/fraud_mlp.onnx"), { clipRange: [0, 10000] });
  const fraud = await flaggedFraud(clf);
  const out = await fgsm.run(clf, fraud.x, fraud.targets, { ...fgsm.defaults, eps: 20, targeted: true, constraints }, { rng: createRng(0) });
  for (let i = 0; i < fraud.labels.length; i++) assert.equal(violation(out.x, fraud.x, i, constraints), undefined);
  await clf.release();
});

test("a constraints file may give bounds per feature name and omit the rest", () => {
  const c = parseConstraints({ features: ["a", "b", "c"], lower: { b: 1 }, upper: [null, 5, 2], integer: ["b"], one_hot: [[0, "c"]] }, 3);
  assert.deepEqual(Array.from(c.lower ?? []), [-Infinity, 1, -Infinity]);
  assert.deepEqual(Array.from(c.upper ?? []), [Infinity, 5, 2]);
  assert.deepEqual(c.integer, [1]);
  assert.deepEqual(c.oneHot, [[0, 2]]);
  assert.equal(c.immutable, undefined);
});

test("constraints file mistakes are BAD_OPTION errors that name the problem", () => {
  const cases: [unknown, RegExp][] = [
    [[1, 2], /expected a JSON object/],
    [{ lowr: [0, 0] }, /unknown key "lowr"/],
    [{ lower: [0] }, /"lower" has 1 bounds but the model takes 2 features/],
    [{ lower: [0, "x"] }, /"lower"\[1\] is "x"; a bound is a finite number/],
    [{ lower: [0, 2], upper: [1, 1] }, /feature 1 has lower bound 2 above its upper bound 1/],
    [{ immutable: ["age"] }, /names feature "age" but there is no "features" list/],
    [{ features: ["a", "b"], immutable: ["age"] }, /"age", which is not in "features"/],
    [{ features: ["a"] }, /names 1 features but the model takes 2/],
    [{ integer: [2] }, /"integer"\[0\] has 2; a feature is an index 0..1/],
    [{ integer: [1, 1] }, /"integer" lists a feature twice/],
    [{ one_hot: [[0]] }, /"one_hot"\[0\] must list at least two features/],
    [
      {
        one_hot: [
          [0, 1],
          [1, 0],
        ],
      },
      /feature 1 is in two one-hot groups/,
    ],
    [{ one_hot: [[0, 1]], upper: [1, 0.5] }, /one-hot feature 1 has bounds that exclude 0 or 1/],
  ];
  for (const [spec, message] of cases) {
    assert.throws(
      () => parseConstraints(spec, 2, "c.json"),
      (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && message.test(e.message) && e.message.startsWith("c.json: "),
      `${JSON.stringify(spec)} should fail with ${message}`,
    );
  }
});

test("an unreadable or malformed constraints file is reported as such", () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-constraints-"));
  assert.throws(
    () => loadConstraintsFile(join(dir, "missing.json"), 2),
    (e: unknown) => e instanceof AegisError && e.code === "FILE_NOT_FOUND",
  );
  const bad = join(dir, "bad.json");
  writeFileSync(bad, "{ lower: [0, 1] }");
  assert.throws(
    () => loadConstraintsFile(bad, 2),
    (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && /not valid JSON/.test(e.message),
  );
});
