/**
 * Boundary Attack (Brendel et al. 2018) against the bundled MNIST CNN, through decisions
 * only: every returned example must be adversarial, and more queries must buy smaller
 * perturbations.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { boundary } from "../../src/attacks/evasion/boundary.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { changedAreAdversarial, decisionBasedChecks, demo, x, y } from "./decision-based.js";

test("Boundary Attack: L2 shrinks from 1,000 to 5,000 queries, every result is adversarial, budgets hold", async (t) => {
  const clf = await OnnxClassifier.fromFile(demo);
  const l2: number[] = [];
  for (const maxQueries of [1000, 5000]) {
    const out = await boundary.run(clf, x, y, { ...boundary.defaults, maxQueries }, { rng: createRng(0) });
    const m = await attackMetrics(clf, x, out.x, y, { queries: out.queries });
    t.diagnostic(`${maxQueries} queries: success ${m.success_rate}, mean L2 ${m.perturbation.l2_mean.toFixed(3)}, queries max ${m.queries?.max}`);
    assert.ok(m.success_rate >= 0.9, `success ${m.success_rate}`);
    assert.ok(m.queries && m.queries.max <= maxQueries, `max queries ${m.queries?.max}`);
    await changedAreAdversarial(clf, out.x, (pred, i) => pred !== y[i]);
    l2.push(m.perturbation.l2_mean);
  }
  // Measured: mean L2 5.58 after 1,000 queries, 3.31 after 5,000 (20 samples: 5.20, 3.00).
  assert.ok(l2[1] < 0.8 * l2[0], `mean L2 ${l2[1]} after 5,000 queries vs ${l2[0]} after 1,000`);
  assert.ok(l2[0] <= 6.5, `mean L2 ${l2[0]} after 1,000 queries`);
  assert.ok(l2[1] <= 3.8, `mean L2 ${l2[1]} after 5,000 queries`);
  await clf.release();
});

decisionBasedChecks(boundary, "Boundary Attack");
