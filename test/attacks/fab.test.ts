/**
 * FAB: the box-constrained projection onto a hyperplane (exact and optimal), and the
 * attack's strength on the bundled MNIST CNN (models/mnist-cnn.onnx): a minimum-norm
 * attack must find smaller perturbations than PGD needs.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { fab, planeScratch, planeStep, runFab } from "../../src/attacks/evasion/fab.js";
import { pgd } from "../../src/attacks/evasion/pgd.js";
import { attackMetrics } from "../../src/attacks/metrics.js";
import { rowNorm } from "../../src/attacks/norms.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { labelsOf, sliceRows } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const x = sliceRows(mnist.x, 0, 50);
const y = labelsOf(mnist.y).slice(0, 50);

test("the projection onto a hyperplane within the box meets the plane, stays in the box, and no feasible move shortens it", () => {
  const rng = createRng(7);
  const d = 40;
  const scratch = planeScratch(d);
  const delta = new Float32Array(d);
  for (const norm of ["inf", "2", "1"] as const) {
    for (let trial = 0; trial < 30; trial++) {
      const p = Float32Array.from({ length: d }, () => (rng.next() < 0.3 ? 0 : rng.next()));
      const w = Float32Array.from({ length: d }, () => (rng.next() < 0.1 ? 0 : rng.normal()));
      const c = (rng.next() - 0.5) * 4;
      planeStep(p, 0, w, c, 0, 1, norm, delta, scratch);
      let dot = 0;
      let reachable = 0;
      for (let i = 0; i < d; i++) {
        dot += w[i] * delta[i];
        reachable += Math.abs(w[i]) * (w[i] * c > 0 ? 1 - p[i] : p[i]);
        assert.ok(p[i] + delta[i] >= -1e-6 && p[i] + delta[i] <= 1 + 1e-6, `L${norm}: coordinate ${i} leaves the box`);
      }
      if (reachable < Math.abs(c)) {
        // The plane is out of reach: the step goes as far as the box allows.
        assert.ok(Math.abs(dot - Math.sign(c) * reachable) < 1e-4, `L${norm}: ${dot} vs reachable ${reachable}`);
        continue;
      }
      assert.ok(Math.abs(dot - c) < 1e-4 * Math.max(1, Math.abs(c)), `L${norm}: ⟨w, δ⟩ = ${dot}, wanted ${c}`);
      // Convex problem: a local minimum is global, so no small feasible move may shrink ‖δ‖.
      const size = rowNorm(delta, 0, d, norm);
      const moved = new Float32Array(d);
      for (let probe = 0; probe < 200; probe++) {
        const v = Float32Array.from({ length: d }, () => rng.normal());
        let vw = 0;
        let ww = 0;
        for (let i = 0; i < d; i++) {
          vw += v[i] * w[i];
          ww += w[i] * w[i];
        }
        let inside = true;
        for (let i = 0; i < d; i++) {
          moved[i] = delta[i] + 1e-3 * (v[i] - (vw / ww) * w[i]);
          if (p[i] + moved[i] < 0 || p[i] + moved[i] > 1) inside = false;
        }
        if (inside) assert.ok(rowNorm(moved, 0, d, norm) >= size - 1e-6, `L${norm}: a feasible move shrinks ${size}`);
      }
    }
  }
});

test("FAB-T L2 finds adversarials for ≥ 95% of 50 samples, smaller on average than PGD-L2 needs", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const out = await runFab(clf, x, y, { ...fab.defaults, norm: "2", eps: 10 }, { rng: createRng(0) });
  const clean = await clf.predict(x);
  const correct = y.flatMap((c, i) => (argmax(clean.data, i) === c ? [i] : []));
  const found = correct.filter((i) => Number.isFinite(out.norms[i]));
  assert.ok(found.length >= 0.95 * correct.length, `found ${found.length} of ${correct.length}`);
  const m = await attackMetrics(clf, x, out.x, y);
  assert.ok(m.success_rate >= 0.95, `success ${m.success_rate}`);
  // The norms reported are those of the returned examples.
  assert.ok(Math.abs(m.perturbation.l2_mean - mean(found.map((i) => out.norms[i]))) < 1e-3);

  // What PGD-L2 needs per sample: its smallest successful perturbation over a grid of budgets.
  const needed = new Float64Array(x.shape[0]).fill(Number.POSITIVE_INFINITY);
  for (const eps of [1, 1.5, 2, 3]) {
    const p = await pgd.run(clf, x, y, { ...pgd.defaults, norm: "2", eps }, { rng: createRng(1) });
    const mp = await attackMetrics(clf, x, p.x, y);
    for (const i of correct) {
      if (!mp.perSample.success[i]) continue;
      let sq = 0;
      for (let j = i * 784; j < (i + 1) * 784; j++) sq += (p.x.data[j] - x.data[j]) ** 2;
      needed[i] = Math.min(needed[i], Math.sqrt(sq));
    }
  }
  const both = found.filter((i) => Number.isFinite(needed[i]));
  const fabMean = mean(both.map((i) => out.norms[i]));
  const pgdMean = mean(both.map((i) => needed[i]));
  assert.ok(both.length >= 0.9 * correct.length, `PGD broke ${both.length}`);
  assert.ok(fabMean <= pgdMean, `FAB mean L2 ${fabMean} vs PGD ${pgdMean}`);
  assert.ok(fabMean <= 1.8, `FAB mean L2 ${fabMean}`);
  await clf.release();
});

test("FAB-T L∞ at ε=0.3 breaks every sample within ε; plain FAB (all classes) finds L∞ norms as small", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 16);
  const ys = y.slice(0, 16);
  const t = await runFab(clf, xs, ys, { ...fab.defaults, eps: 0.3 }, { rng: createRng(0) });
  const m = await attackMetrics(clf, xs, t.x, ys);
  assert.ok(m.robust_accuracy === 0, `robust accuracy ${m.robust_accuracy}`);
  assert.ok(m.perturbation.linf_mean <= 0.3 + 1e-6);
  const plain = await runFab(clf, xs, ys, { ...fab.defaults, eps: 0.3, nTargetClasses: 0, maxIter: 40 }, { rng: createRng(0) });
  const mPlain = await attackMetrics(clf, xs, plain.x, ys);
  assert.ok(mPlain.robust_accuracy === 0, `plain FAB robust accuracy ${mPlain.robust_accuracy}`);
  const finite = (v: Float64Array) => Array.from(v).filter((d) => d > 0);
  assert.ok(mean(finite(plain.norms)) <= 0.2, `plain FAB mean L∞ ${mean(finite(plain.norms))}`);
  assert.ok(mean(finite(t.norms)) <= 0.2, `FAB-T mean L∞ ${mean(finite(t.norms))}`);
  await clf.release();
});

test("targeted FAB reaches the chosen class; a small ε counts only the examples inside it", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 20);
  const targets = y.slice(0, 20).map((c) => (c + 1) % 10);
  const out = await runFab(clf, xs, targets, { ...fab.defaults, norm: "2", eps: 10, targeted: true }, { rng: createRng(0) });
  const m = await attackMetrics(clf, xs, out.x, y.slice(0, 20), { targets });
  assert.ok(m.success_rate >= 0.9, `targeted success ${m.success_rate}`);
  const small = await runFab(clf, xs, targets, { ...fab.defaults, norm: "2", eps: 1, targeted: true, maxIter: 20 }, { rng: createRng(0) });
  for (let i = 0; i < 20; i++) {
    const moved = small.x.data.subarray(i * 784, (i + 1) * 784).some((v, j) => v !== xs.data[i * 784 + j]);
    assert.equal(moved, small.norms[i] > 0 && small.norms[i] <= 1, `sample ${i}: norm ${small.norms[i]}`);
  }
  await clf.release();
});

test("an aborted FAB returns its input", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const xs = sliceRows(x, 0, 4);
  const controller = new AbortController();
  controller.abort();
  const out = await fab.run(clf, xs, y.slice(0, 4), fab.defaults, { rng: createRng(0), signal: controller.signal });
  assert.deepEqual(out.x.data, xs.data);
  await clf.release();
});

function argmax(data: Float32Array, i: number): number {
  const row = data.subarray(i * 10, (i + 1) * 10);
  return row.indexOf(Math.max(...row));
}

function mean(v: number[]): number {
  return v.reduce((s, a) => s + a, 0) / v.length;
}
