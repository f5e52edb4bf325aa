/**
 * Boundary Attack (Brendel et al. 2018) against the bundled MNIST CNN, through decisions
 * only: every returned example must be adversarial, and more queries must buy smaller
 * perturbations.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { boundary } from "../../src/attacks/evasion/boundary.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import type { Predictor } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { labelsOf, sizeOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const n = 10;
const x = sliceRows(mnist.x, 0, n);
const y = labelsOf(mnist.y).slice(0, n);

/** Samples the attack changed; each must be classified as wanted. */
async function changedAreAdversarial(model: Predictor, adv: Tensor<"float32">, wanted: (pred: number, i: number) => boolean): Promise<number> {
  const row = sizeOf(x.shape.slice(1));
  const out = await model.predict(adv);
  let changed = 0;
  for (let i = 0; i < adv.shape[0]; i++) {
    if (!adv.data.subarray(i * row, (i + 1) * row).some((v, k) => v !== x.data[i * row + k])) continue;
    changed++;
    assert.ok(wanted(argmaxRow(out, i), i), `sample ${i} was returned changed but is not adversarial`);
  }
  return changed;
}

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

test("targeted Boundary Attack starts from a batch sample of the target class and ends in it", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const targets = y.map((c) => (c + 1) % 10);
  const out = await boundary.run(clf, x, targets, { ...boundary.defaults, targeted: true, maxQueries: 500 }, { rng: createRng(1) });
  const changed = await changedAreAdversarial(clf, out.x, (pred, i) => pred === targets[i]);
  // Targets 2, 1, 0 and 5 occur among the batch's own classes.
  const reachable = targets.filter((c) => y.includes(c)).length;
  assert.ok(changed >= reachable, `${changed} samples sent to their target, ${reachable} had a starting point in the batch`);
  await clf.release();
});

test("Boundary Attack returns the input on an aborted signal, drops results beyond eps, and rejects L∞", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 4);
  const ys = y.slice(0, 4);
  const aborted = await boundary.run(clf, xs, ys, boundary.defaults, { rng: createRng(0), signal: AbortSignal.abort() });
  assert.deepEqual(aborted.x.data, xs.data);
  // No MNIST digit falls to an L2 perturbation of 0.1 in 300 queries: nothing may be returned.
  const bounded = await boundary.run(clf, xs, ys, { ...boundary.defaults, eps: 0.1, maxQueries: 300 }, { rng: createRng(0) });
  assert.deepEqual(bounded.x.data, xs.data);
  await assert.rejects(boundary.run(clf, xs, ys, { ...boundary.defaults, norm: "inf" }, { rng: createRng(0) }), AegisError);
  await clf.release();
});
