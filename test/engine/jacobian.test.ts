/**
 * Output gradients in one run (engine/jacobian.ts): the ONNX classifier's single gradient
 * graph over R copies of the batch gives the same rows as composing class gradients, for
 * Jacobian rows, differences, sums of all outputs but one, and the rival difference.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { appendGradients } from "../../src/autodiff/gradient.js";
import { createRng } from "../../src/data/random.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import type { ClassGradient, Predictor } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { hasOutputGradients, outputGradients, rivalClass, samplesPerRun, shareForward, tileRows } from "../../src/engine/jacobian.js";
import { classOutput } from "../../src/engine/losses.js";
import { GraphBuilder } from "../../src/onnx/builder.js";
import { cloneModel, DataType, defaultOpset } from "../../src/onnx/ir.js";
import { float32, type Tensor } from "../../src/tensor.js";

const maxAbs = (a: Tensor<"float32">, b: Tensor<"float32">) => a.data.reduce((m, v, i) => Math.max(m, Math.abs(v - b.data[i])), 0);

const demo = new URL("../../models/mnist-cnn.onnx", import.meta.url).pathname;

test("the whole Jacobian of a CNN (conv, max-pool, dense) in one run, its forward pass shared by the ten rows, is the ten class gradients", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  try {
    const n = 3;
    const rng = createRng(9);
    const x = float32(
      [n, 1, 28, 28],
      Float32Array.from({ length: n * 784 }, () => rng.next()),
    );
    const w = new Float32Array(10 * n * 10);
    for (let c = 0; c < 10; c++) for (let i = 0; i < n; i++) w[(c * n + i) * 10 + c] = 1;
    const { output, gradients } = await outputGradients(clf, x, { weights: float32([10, n, 10], w) });
    assert.ok(maxAbs(output, await clf.predict(x)) < 1e-5);
    for (let c = 0; c < 10; c++) {
      const g = await clf.classGradient(x, [c, c, c]);
      const row = float32([n, 1, 28, 28], gradients.data.slice(c * n * 784, (c + 1) * n * 784));
      const scale = g.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assert.ok(maxAbs(row, g) <= 1e-5 * scale, `class ${c}: ${maxAbs(row, g)} of ${scale}`);
    }
  } finally {
    await clf.release();
  }
});

test("the forward pass is shared only where every value the backward passes read carries the samples on its first axis and is floating point", async () => {
  const clf = await OnnxClassifier.fromFile(demo);
  try {
    const rows = 3;
    const x = tileRows(float32([2, 1, 28, 28], new Float32Array(2 * 784).fill(0.5)), rows);
    const { model, shapes, inputName, totalOut } = await clf.lossGraph(classOutput, x.shape, {
      x,
      targets: clf.oneHot([0, 1, 2, 3, 4, 5]),
      weights: new Float32Array(6).fill(1),
    });
    const forwardNodes = model.graph.nodes.findIndex((node) => node.inputs.includes("aegis/targets"));
    appendGradients(model, {
      seeds: [{ value: totalOut, seed: new GraphBuilder(model.graph, defaultOpset(model), "seed").scalar(1) }],
      wrt: [inputName],
      shapes,
    });
    const blocked = cloneModel(model);
    assert.ok(shareForward(model.graph, defaultOpset(model), forwardNodes, inputName, shapes, rows));
    // The two forward convolutions stay where they were; the activations the backward pass reads are tiled after them.
    assert.deepEqual(
      model.graph.nodes.flatMap((node, i) => (node.opType === "Conv" ? [i] : [])),
      [0, 2],
    );
    assert.ok(model.graph.nodes.slice(forwardNodes).some((node) => node.opType === "Tile"));
    // An integer value read across the line (here a max-pool's indices, which number elements across the batch) stops it.
    const pool = blocked.graph.nodes.find((node) => node.opType === "MaxPool" && node.inputs[0].startsWith("m/")) as (typeof blocked.graph.nodes)[number];
    pool.outputs.push("indices");
    shapes.set("indices", { dims: shapes.get(pool.outputs[0])?.dims ?? [], dataType: DataType.INT64 });
    blocked.graph.nodes.push({ name: "reads-indices", opType: "Identity", domain: "", inputs: ["indices"], outputs: ["copy"], attributes: {} });
    const before = blocked.graph.nodes.map((node) => `${node.opType}(${node.inputs.join()})`);
    assert.equal(shareForward(blocked.graph, defaultOpset(blocked), forwardNodes, inputName, shapes, rows), false);
    assert.deepEqual(
      blocked.graph.nodes.map((node) => `${node.opType}(${node.inputs.join()})`),
      before,
    );
  } finally {
    await clf.release();
  }
});

test("runs are sized to the samples: the fewest runs, padded by at most a fifth", () => {
  assert.equal(samplesPerRun(20, 128), 20);
  assert.equal(samplesPerRun(100, 128), 112);
  assert.equal(samplesPerRun(100, 14), 14);
  assert.equal(samplesPerRun(30, 14), 10);
  assert.equal(samplesPerRun(1, 14), 1);
  for (let n = 1; n <= 300; n++) {
    for (const fit of [1, 7, 14, 64, 128]) {
      const per = samplesPerRun(n, fit);
      const runs = Math.ceil(n / per);
      assert.ok(per <= fit && runs === Math.ceil(n / fit), `${n} in runs of ${fit}: ${per}`);
      assert.ok(runs * per - n < 0.2 * runs * per, `${n} in runs of ${fit}: ${per} pads too much`);
    }
  }
});

test("one run gives the rows composing class gradients gives: one-hot, differences, all-but-one and the rival", async () => {
  const k = 4;
  const n = 5;
  const clf = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [6], numClasses: k, seed: 2 }));
  const composed: Predictor & ClassGradient = {
    inputShape: clf.inputShape,
    numClasses: k,
    clipRange: clf.clipRange,
    outputKind: clf.outputKind,
    predict: (x) => clf.predict(x),
    classGradient: (x, classes) => clf.classGradient(x, classes),
  };
  assert.ok(hasOutputGradients(clf) && !hasOutputGradients(composed));
  try {
    const rng = createRng(5);
    const x = float32(
      [n, 6],
      Float32Array.from({ length: n * 6 }, () => rng.next()),
    );
    const y = [0, 1, 2, 3, 1];
    // Row 0: ∇f_y; row 1: ∇(f_{y+1} − f_y); row 2: ∇Σ_{c≠y} f_c.
    const w = new Float32Array(3 * n * k);
    y.forEach((c, i) => {
      w[(0 * n + i) * k + c] = 1;
      w[(1 * n + i) * k + ((c + 1) % k)] = 1;
      w[(1 * n + i) * k + c] = -1;
      for (let o = 0; o < k; o++) if (o !== c) w[(2 * n + i) * k + o] = 1;
    });
    const weights = float32([3, n, k], w);
    const fast = await outputGradients(clf, x, { weights });
    const slow = await outputGradients(composed, x, { weights });
    assert.deepEqual(fast.gradients.shape, [3, n, 6]);
    assert.ok(maxAbs(fast.gradients, slow.gradients) < 1e-5, `${maxAbs(fast.gradients, slow.gradients)}`);
    assert.ok(maxAbs(fast.output, slow.output) < 1e-6);
    // Row 0 is the class gradient itself.
    const g = await clf.classGradient(x, y);
    assert.ok(maxAbs(float32([n, 6], fast.gradients.data.slice(0, n * 6)), g) < 1e-6);

    const rival = await outputGradients(clf, x, { rivalOf: y });
    const rivalComposed = await outputGradients(composed, x, { rivalOf: y });
    assert.deepEqual(rival.gradients.shape, [1, n, 6]);
    assert.ok(maxAbs(rival.gradients, rivalComposed.gradients) < 1e-5);
    // The rival is the largest other output: its gradient minus the label's.
    const rivals = y.map((c, i) => rivalClass(rival.output, i, c));
    const [gr, gy] = [await clf.classGradient(x, rivals), g];
    const expected = float32(
      [1, n, 6],
      gr.data.map((v, j) => v - gy.data[j]),
    );
    assert.ok(maxAbs(rival.gradients, expected) < 1e-5);
  } finally {
    await clf.release();
  }
});
