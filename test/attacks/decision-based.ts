/**
 * What every decision-based attack (Boundary, Sign-OPT) must do on the bundled MNIST CNN,
 * shared by their test files: return only adversarial changes, reach its target class when
 * the batch holds a starting point of that class, give the input back when aborted or when
 * nothing fits in eps, and refuse L∞. Attack-specific numbers stay in each test file.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { Attack, CommonParams } from "../../src/attacks/types.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import type { Predictor } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { AegisError } from "../../src/errors.js";
import { labelsOf, sizeOf, sliceRows, type Tensor } from "../../src/tensor.js";

export const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
export const x = sliceRows(mnist.x, 0, 10);
export const y = labelsOf(mnist.y).slice(0, 10);

/** Samples the attack changed; each must be classified as wanted. */
export async function changedAreAdversarial(model: Predictor, adv: Tensor<"float32">, wanted: (pred: number, i: number) => boolean): Promise<number> {
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

/** Registers the targeted, aborted, out-of-budget and L∞ checks for a decision-based attack. */
export function decisionBasedChecks<P extends CommonParams & { maxQueries: number }>(attack: Attack<P, Predictor>, title: string): void {
  test(`targeted ${title} starts from a batch sample of the target class and ends in it`, async () => {
    const clf = await OnnxClassifier.fromFile(demo);
    const targets = y.map((c) => (c + 1) % 10);
    const out = await attack.run(clf, x, targets, { ...attack.defaults, targeted: true, maxQueries: 500 }, { rng: createRng(1) });
    const changed = await changedAreAdversarial(clf, out.x, (pred, i) => pred === targets[i]);
    // Targets 2, 1, 0 and 5 occur among the batch's own classes.
    const reachable = targets.filter((c) => y.includes(c)).length;
    assert.ok(changed >= reachable, `${changed} samples sent to their target, ${reachable} had a starting point in the batch`);
    await clf.release();
  });

  test(`${title} returns the input on an aborted signal, drops results beyond eps, and rejects L∞`, async () => {
    const clf = await OnnxClassifier.fromFile(demo);
    const xs = sliceRows(x, 0, 4);
    const ys = y.slice(0, 4);
    const aborted = await attack.run(clf, xs, ys, attack.defaults, { rng: createRng(0), signal: AbortSignal.abort() });
    assert.deepEqual(aborted.x.data, xs.data);
    // No MNIST digit falls to an L2 perturbation of 0.1 in 300 queries: nothing may be returned.
    const bounded = await attack.run(clf, xs, ys, { ...attack.defaults, eps: 0.1, maxQueries: 300 }, { rng: createRng(0) });
    assert.deepEqual(bounded.x.data, xs.data);
    await assert.rejects(attack.run(clf, xs, ys, { ...attack.defaults, norm: "inf" }, { rng: createRng(0) }), AegisError);
    await clf.release();
  });
}
