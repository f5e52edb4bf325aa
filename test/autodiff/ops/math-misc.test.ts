/** Finite-difference checks of Cast and inference-mode Dropout, training-mode Dropout against its mask, and the refusals. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { appendGradients } from "../../../src/autodiff/gradient.js";
import { probeShapes } from "../../../src/engine/probe.js";
import { createSession } from "../../../src/engine/runtime.js";
import { attr, DataType, emptyModel } from "../../../src/onnx/ir.js";
import { float32 } from "../../../src/tensor.js";
import { checkVjp } from "../../helpers/fd.js";

test("Cast float → double casts the gradient back; float → float is the identity", async () => {
  await checkVjp({ opType: "Cast", inputs: [{ shape: [2, 3, 4] }], attributes: { to: attr.int(DataType.DOUBLE) } });
  await checkVjp({ opType: "Cast", inputs: [{ shape: [2, 3, 4] }], attributes: { to: attr.int(DataType.FLOAT) } });
});

test("Cast to an integer type carries no gradient", async () => {
  const r = await checkVjp({ opType: "Cast", inputs: [{ shape: [2, 3] }], attributes: { to: attr.int(DataType.INT64) } });
  assert.equal(r.maxError, 0);
});

test("Dropout in inference is the identity (opset 11 ratio attribute, opset 13 constant inputs)", async () => {
  await checkVjp({ opType: "Dropout", opset: 11, inputs: [{ shape: [2, 3, 4] }], attributes: { ratio: attr.float(0.3) }, outputs: 2 });
  await checkVjp({ opType: "Dropout", opset: 13, inputs: [{ shape: [2, 3, 4] }] });
  await checkVjp({
    opType: "Dropout",
    opset: 13,
    inputs: [
      { shape: [2, 3, 4] },
      { shape: [], constant: Float32Array.of(0.3), dataType: DataType.FLOAT },
      { shape: [], constant: Uint8Array.of(0), dataType: DataType.BOOL },
    ],
    outputs: 2,
  });
});

/** One training-mode Dropout with its gradient: returns y, the mask and dx for x and a seed. */
async function dropoutRun(seed: number, x: Float32Array, dy: Float32Array) {
  const model = emptyModel(13, "dropout", "test");
  model.graph.inputs.push({ name: "x", elemType: DataType.FLOAT, shape: [x.length] }, { name: "dy", elemType: DataType.FLOAT, shape: [x.length] });
  model.graph.initializers.push(
    { name: "ratio", dataType: DataType.FLOAT, dims: [], data: Float32Array.of(0.3) },
    { name: "training", dataType: DataType.BOOL, dims: [], data: Uint8Array.of(1) },
  );
  model.graph.nodes.push({
    name: "op",
    opType: "Dropout",
    domain: "",
    inputs: ["x", "ratio", "training"],
    outputs: ["y", "mask"],
    attributes: { seed: attr.int(seed) },
  });
  const feeds = { x: float32([x.length], x), dy: float32([dy.length], dy) };
  const shapes = await probeShapes(model, feeds);
  const dx = appendGradients(model, { seeds: [{ value: "y", seed: "dy" }], wrt: ["x"], shapes }).get("x") as string;
  for (const o of ["y", "mask", dx]) model.graph.outputs.push({ name: o, elemType: DataType.UNDEFINED });
  const session = await createSession(model);
  const out = await session.run(feeds, ["y", "mask", dx]);
  await session.release();
  return { y: out.y.data as Float32Array, mask: out.mask.data as Uint8Array, dx: out[dx].data as Float32Array };
}

test("Dropout in training mode: dx = dy·mask/(1 − ratio) with the run's own mask, seeded", async () => {
  const n = 4000;
  const x = Float32Array.from({ length: n }, (_, i) => 1 + (i % 7));
  const dy = Float32Array.from({ length: n }, (_, i) => Math.cos(i));
  const a = await dropoutRun(7, x, dy);
  let dropped = 0;
  for (let i = 0; i < n; i++) {
    const keep = a.mask[i] ? 1 / 0.7 : 0;
    if (!a.mask[i]) dropped++;
    assert.ok(Math.abs(a.y[i] - x[i] * keep) < 1e-5, `y[${i}]`);
    assert.ok(Math.abs(a.dx[i] - dy[i] * keep) < 1e-5, `dx[${i}]`);
  }
  assert.ok(Math.abs(dropped / n - 0.3) < 0.03, `dropped ${dropped / n} of the elements at ratio 0.3`);
  assert.deepEqual((await dropoutRun(7, x, dy)).mask, a.mask, "the same seed draws the same first mask");
  assert.notDeepEqual((await dropoutRun(8, x, dy)).mask, a.mask, "another seed, another mask");
});

test("Dropout in training mode without its mask output is refused by name", async () => {
  await assert.rejects(
    checkVjp({
      opType: "Dropout",
      opset: 13,
      inputs: [
        { shape: [2, 3] },
        { shape: [], constant: Float32Array.of(0.3), dataType: DataType.FLOAT },
        { shape: [], constant: Uint8Array.of(1), dataType: DataType.BOOL },
      ],
      outputs: 1,
    }),
    /no gradient through Dropout "op" \(training mode without its mask output\)/,
  );
});
