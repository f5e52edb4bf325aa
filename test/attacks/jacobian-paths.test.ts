/**
 * DeepFool, FAB and JSMA give the same results whether the model answers their output
 * gradients in one run (engine/jacobian.ts, the ONNX classifier) or only class by class
 * (any other model): on digits of the bundled MNIST CNN, the same samples are fooled and
 * the adversarial inputs agree to float rounding.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { deepFool } from "../../src/attacks/evasion/deepfool.js";
import { fab, runFab } from "../../src/attacks/evasion/fab.js";
import { jsma } from "../../src/attacks/evasion/jsma.js";
import type { AttackOutput } from "../../src/attacks/types.js";
import { loadMnist } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import type { ClassGradient, Predictor } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { hasOutputGradients } from "../../src/engine/jacobian.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { labelsOf, sliceRows, type Tensor } from "../../src/tensor.js";

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;
const { test: mnist } = loadMnist();
const n = 6;
const x = sliceRows(mnist.x, 0, n);
const y = labelsOf(mnist.y).slice(0, n);

/** The classifier with its class gradients only: every output gradient is composed class by class. */
function classByClass(clf: OnnxClassifier): Predictor & ClassGradient {
  return {
    inputShape: clf.inputShape,
    numClasses: clf.numClasses,
    clipRange: clf.clipRange,
    outputKind: clf.outputKind,
    predict: (v) => clf.predict(v),
    classGradient: (v, classes) => clf.classGradient(v, classes),
  };
}

async function assertSameResults(clf: OnnxClassifier, fast: AttackOutput, slow: AttackOutput, labels: number[], targeted: boolean): Promise<void> {
  const [pf, ps] = [await clf.predict(fast.x), await clf.predict(slow.x)];
  const fooled = (out: Tensor<"float32">, i: number) => (targeted ? argmaxRow(out, i) === labels[i] : argmaxRow(out, i) !== labels[i]);
  const outcomes = labels.map((_, i) => fooled(pf, i));
  assert.deepEqual(
    outcomes,
    labels.map((_, i) => fooled(ps, i)),
  );
  // The attacks must do something here for the comparison to mean anything.
  assert.ok(outcomes.filter(Boolean).length >= n - 1, `fooled ${outcomes.filter(Boolean).length} of ${n}`);
  const d = fast.x.data.reduce((m, v, i) => Math.max(m, Math.abs(v - slow.x.data[i])), 0);
  assert.ok(d < 1e-4, `the adversarial inputs differ by ${d}`);
}

test("DeepFool, FAB-T and JSMA give the same adversarial digits with output gradients in one run as class by class", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  const composed = classByClass(clf);
  assert.ok(hasOutputGradients(clf) && !hasOutputGradients(composed));
  try {
    const ctx = () => ({ rng: createRng(0) });
    await assertSameResults(
      clf,
      await deepFool.run(clf, x, y, deepFool.defaults, ctx()),
      await deepFool.run(composed, x, y, deepFool.defaults, ctx()),
      y,
      false,
    );
    // FAB-T with fewer targets and iterations than the paper's, to stay within seconds; the norms found must agree too.
    const p = { ...fab.defaults, nTargetClasses: 2, maxIter: 30 };
    const [ff, fs] = [await runFab(clf, x, y, p, ctx()), await runFab(composed, x, y, p, ctx())];
    await assertSameResults(clf, ff, fs, y, false);
    for (const [i, v] of ff.norms.entries()) assert.ok(Math.abs(v - fs.norms[i]) < 1e-4, `sample ${i}: norm ${v} against ${fs.norms[i]}`);
    const targets = y.map((c) => (c + 1) % 10);
    await assertSameResults(
      clf,
      await jsma.run(clf, x, targets, jsma.defaults, ctx()),
      await jsma.run(composed, x, targets, jsma.defaults, ctx()),
      targets,
      true,
    );
  } finally {
    await clf.release();
  }
});
