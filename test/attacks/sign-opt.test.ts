/**
 * Sign-OPT (Cheng et al. 2020) against the bundled MNIST CNN, through decisions only: every
 * returned example must be adversarial, and more queries must buy smaller perturbations.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { signOpt } from "../../src/attacks/evasion/sign-opt.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { changedAreAdversarial, decisionBasedChecks, demo, x, y } from "./decision-based.js";

test("Sign-OPT: L2 shrinks from 1,000 to 5,000 queries, every result is adversarial, budgets hold", async (t) => {
  const clf = await OnnxClassifier.fromFile(demo);
  const l2: number[] = [];
  for (const maxQueries of [1000, 5000]) {
    let progress = 0;
    const out = await signOpt.run(clf, x, y, { ...signOpt.defaults, maxQueries }, { rng: createRng(0), onProgress: (done) => (progress = done) });
    const m = await attackMetrics(clf, x, out.x, y, { queries: out.queries });
    t.diagnostic(
      `${maxQueries} queries: success ${m.success_rate}, mean L2 ${m.perturbation.l2_mean.toFixed(3)}, queries mean ${m.queries?.mean} max ${m.queries?.max}`,
    );
    assert.ok(m.success_rate >= 0.9, `success ${m.success_rate}`);
    assert.ok(m.queries && m.queries.max <= maxQueries, `max queries ${m.queries?.max}`);
    assert.equal(progress, x.shape[0]);
    await changedAreAdversarial(clf, out.x, (pred, i) => pred !== y[i]);
    l2.push(m.perturbation.l2_mean);
  }
  // Measured: mean L2 3.57 after 1,000 queries, 1.73 after 5,000 (20 samples: 3.23, 1.47).
  assert.ok(l2[1] < 0.7 * l2[0], `mean L2 ${l2[1]} after 5,000 queries vs ${l2[0]} after 1,000`);
  assert.ok(l2[0] <= 4.3, `mean L2 ${l2[0]} after 1,000 queries`);
  assert.ok(l2[1] <= 2.1, `mean L2 ${l2[1]} after 5,000 queries`);
  await clf.release();
});

decisionBasedChecks(signOpt, "Sign-OPT");
