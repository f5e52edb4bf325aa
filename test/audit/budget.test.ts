/**
 * The time budget's planner (audit/budget.ts), the durations --time-budget takes, and how
 * a model's input kind is told (engine/input-kind.ts), which picks the built-in suite.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { inputMismatch, square } from "../../src/attacks/index.js";
import { budgetText, iterationKnob, type PlanItem, parseDuration, planSuite, SAMPLE_FLOOR } from "../../src/audit/budget.js";
import { defaultAuditConfig } from "../../src/audit/config.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { inputKind } from "../../src/engine/input-kind.js";
import { AegisError } from "../../src/errors.js";
import { DataType } from "../../src/onnx/ir.js";

const item = (samples: number, perSample: number, knob: PlanItem["knob"] = null, runs = 1): PlanItem => ({ samples, runs, perSample, knob });
const total = (plan: { seconds: number }[]) => plan.reduce((s, a) => s + a.seconds, 0);

test("a suite that fits its budget is not cut", () => {
  const plan = planSuite([item(100, 0.01, null, 3), item(20, 0.1)], 10);
  assert.deepEqual(
    plan.map((a) => [a.samples, a.iterations]),
    [
      [100, null],
      [20, null],
    ],
  );
  assert.ok(Math.abs(total(plan) - 5) < 1e-9);
});

test("over budget, samples are cut first by one factor for all, and the plan fits", () => {
  // 3 runs × 500 × 0.01 s + 100 × 0.1 s = 25 s into 12.5 s: every attack keeps about half its samples.
  const plan = planSuite([item(500, 0.01, { param: "maxIter", value: 40 }, 3), item(100, 0.1, { param: "maxQueries", value: 1000 })], 12.5);
  assert.deepEqual(
    plan.map((a) => a.iterations),
    [null, null],
  );
  assert.ok(total(plan) <= 12.5 && total(plan) > 12, `${total(plan)}`);
  assert.ok(Math.abs(plan[0].samples / 500 - plan[1].samples / 100) < 0.02, JSON.stringify(plan));
});

test("below the sample floor, iterations carry the cut; without an iteration knob the floor stays", () => {
  const items = [item(100, 1, { param: "maxQueries", value: 1000 }), item(100, 1)];
  // 10 s for the attack without a knob at its floor, 2 s left for 10 samples of the other: a fifth of its queries.
  const [queries, fixed] = planSuite(items, 12);
  assert.equal(queries.samples, SAMPLE_FLOOR);
  assert.ok(queries.iterations !== null && queries.iterations >= 195 && queries.iterations <= 200, JSON.stringify(queries));
  assert.deepEqual([fixed.samples, fixed.iterations], [SAMPLE_FLOOR, null]);
  // Even the smallest settings exceed 5 s: the plan is those (5% of the queries), and the deadline stops the rest.
  assert.deepEqual(
    planSuite(items, 5).map((a) => [a.samples, a.iterations]),
    [
      [SAMPLE_FLOOR, 50],
      [SAMPLE_FLOOR, null],
    ],
  );
});

test("the iteration knob is maxQueries or maxIter, only when the attack declares it", () => {
  assert.deepEqual(iterationKnob({ maxQueries: 1000, maxIter: 5 }, ["maxQueries", "maxIter"]), { param: "maxQueries", value: 1000 });
  assert.deepEqual(iterationKnob({ maxIter: 40 }, ["eps", "maxIter"]), { param: "maxIter", value: 40 });
  assert.equal(iterationKnob({ maxIter: 40 }, ["eps"]), null);
  assert.equal(iterationKnob({ maxIter: 1 }, ["maxIter"]), null);
});

test("durations: seconds, s, m, h and combinations; anything else is a user error that says what it takes", () => {
  assert.deepEqual(
    ["300", "90s", "10m", "1h30m", "2m30s", "1.5m"].map((t) => parseDuration("--time-budget", t)),
    [300, 90, 600, 5400, 150, 90],
  );
  for (const bad of ["", "0", "-5", "10 minutes", "m", "5d"])
    assert.throws(
      () => parseDuration("--time-budget", bad),
      (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && /takes a duration such as 300, 90s, 10m or 1h30m/.test(e.message),
      bad,
    );
});

test("the budget line says the budget, the estimate and every cut, or that nothing was cut", () => {
  const base = { warmup_seconds: 1, exhausted: false };
  assert.equal(
    budgetText({ ...base, seconds: 300, estimate_seconds: 720, cut: true, cuts: ["pgd: 120 of 500 samples", "hopskipjump: maxQueries 2000 → 800"] }),
    "time budget 5 min, estimated 12 min as configured: cut, so these numbers are not a full audit's (pgd: 120 of 500 samples; hopskipjump: maxQueries 2000 → 800)",
  );
  assert.equal(
    budgetText({ ...base, seconds: 600, estimate_seconds: 95, cut: false, cuts: [] }),
    "time budget 10 min, estimated 1 min 35 s as configured: nothing cut",
  );
  assert.equal(budgetText({ ...base, seconds: null, estimate_seconds: 12.25, cut: false, cuts: [] }), "estimated 12.3 s as configured");
});

test("input kinds: a CNN takes images, an MLP on rows tabular data, on [T, F] sequences, an integer input token ids", () => {
  assert.equal(inputKind(buildArchitecture("cnn", { inputShape: [1, 28, 28], numClasses: 10 })), "image");
  assert.equal(inputKind(buildArchitecture("mlp", { inputShape: [8], numClasses: 3 })), "tabular");
  assert.equal(inputKind(buildArchitecture("mlp", { inputShape: [6, 4], numClasses: 3 })), "sequence");
  assert.equal(inputKind(buildArchitecture("mlp", { inputShape: [3, 8, 8], numClasses: 3 })), "image");
  const tokens = buildArchitecture("mlp", { inputShape: [8], numClasses: 3 });
  tokens.graph.inputs[0].elemType = DataType.INT64;
  assert.equal(inputKind(tokens), "tokens");
  assert.equal(inputMismatch(square, "tabular"), "works on images, not tabular rows");
  assert.equal(inputMismatch(square, "image"), null);
});

test("the built-in suite: Square on images, NES in its place elsewhere with Square listed to be skipped", () => {
  const ids = (kind: Parameters<typeof defaultAuditConfig>[0]) => defaultAuditConfig(kind).attacks.map((e) => e.id);
  assert.deepEqual(ids("image"), ["fgsm", "pgd", "cw-l2", "deepfool", "square", "hopskipjump", "autoattack"]);
  for (const kind of ["tabular", "sequence"] as const)
    assert.deepEqual(ids(kind), ["fgsm", "pgd", "cw-l2", "deepfool", "square", "nes", "hopskipjump", "autoattack"]);
});
