import assert from "node:assert/strict";
import { test } from "node:test";
import { appendGradients } from "../../../src/autodiff/gradient.js";
import { createRng } from "../../../src/data/random.js";
import { probeShapes } from "../../../src/engine/probe.js";
import { createSession } from "../../../src/engine/runtime.js";
import { type Attribute, attr, DataType, type Model } from "../../../src/onnx/ir.js";
import { float32 } from "../../../src/tensor.js";
import { checkVjp } from "../../helpers/fd.js";

/** Distinct values 0.1 apart in random order: a finite-difference step never changes an argmax. */
function distinct(n: number, seed: number): number[] {
  return createRng(seed).shuffle(Array.from({ length: n }, (_, i) => (i - n / 2) * 0.1));
}

const size = (shape: number[]) => shape.reduce((a, c) => a * c, 1);

const pool = (opType: string, x: number[], attributes: Record<string, Attribute>, opset = 17, seed = 1) =>
  checkVjp({ opType, inputs: [{ shape: x, data: distinct(size(x), seed) }], attributes, opset, seed });

const k = (...v: number[]) => attr.ints(v);

test("MaxPool 2x2 stride 2 (no overlap) at opsets 11, 13 and 17", async () => {
  for (const opset of [11, 13, 17]) await pool("MaxPool", [2, 3, 4, 6], { kernel_shape: k(2, 2), strides: k(2, 2) }, opset);
});

test("MaxPool without overlap but with pads, ceil_mode, dilation, SAME_UPPER, 1-D and 3-D", async () => {
  for (const opset of [11, 17]) {
    await pool("MaxPool", [2, 2, 7, 5], { kernel_shape: k(2, 2), strides: k(2, 2), pads: k(1, 0, 0, 1) }, opset);
    await pool("MaxPool", [2, 2, 7, 7], { kernel_shape: k(2, 3), strides: k(2, 3), ceil_mode: attr.int(1) }, opset);
    await pool("MaxPool", [1, 2, 8, 9], { kernel_shape: k(2, 2), strides: k(3, 4), dilations: k(2, 3) }, opset);
    await pool("MaxPool", [2, 2, 7, 5], { kernel_shape: k(2, 2), strides: k(2, 2), auto_pad: attr.string("SAME_UPPER") }, opset);
    await pool("MaxPool", [2, 3, 9], { kernel_shape: k(3), strides: k(3) }, opset);
    await pool("MaxPool", [1, 2, 4, 6, 4], { kernel_shape: k(2, 3, 2), strides: k(2, 3, 2) }, opset);
  }
});

test("MaxPool 3x3 stride 2 (overlapping windows) with pads: scatter-add at 16+, col2im at 11 and 13", async () => {
  for (const opset of [11, 13, 16, 17]) await pool("MaxPool", [2, 2, 7, 6], { kernel_shape: k(3, 3), strides: k(2, 2), pads: k(1, 0, 1, 1) }, opset);
});

test("MaxPool stride 1, dilation 2, ceil_mode, overlapping, at opsets 11 and 18", async () => {
  for (const opset of [11, 18]) {
    await pool("MaxPool", [1, 2, 7, 8], { kernel_shape: k(2, 3), dilations: k(2, 1), strides: k(1, 2), ceil_mode: attr.int(1) }, opset);
    await pool("MaxPool", [2, 2, 8, 7], { kernel_shape: k(3, 2), strides: k(2, 2), pads: k(1, 1, 1, 0), ceil_mode: attr.int(1) }, opset);
  }
});

test("MaxPool 1-D, SAME_UPPER, and 3-D", async () => {
  await pool("MaxPool", [2, 3, 9], { kernel_shape: k(3), strides: k(2) }, 13);
  await pool("MaxPool", [2, 3, 9], { kernel_shape: k(3), strides: k(2) }, 11);
  await pool("MaxPool", [2, 2, 7, 5], { kernel_shape: k(3, 2), strides: k(2, 2), auto_pad: attr.string("SAME_UPPER") }, 12);
  await pool("MaxPool", [1, 2, 4, 5, 4], { kernel_shape: k(2, 3, 2), strides: k(2, 1, 2) }, 11);
});

test("MaxPool whose Indices output the model already has", async () => {
  await checkVjp({
    opType: "MaxPool",
    inputs: [{ shape: [2, 2, 5, 5], data: distinct(100, 4) }],
    attributes: { kernel_shape: k(3, 3), strides: k(2, 2) },
    outputs: 2,
    opset: 11,
  });
});

test("MaxPool storage_order=1 is refused by name", async () => {
  await assert.rejects(pool("MaxPool", [1, 1, 4, 4], { kernel_shape: k(2, 2), storage_order: attr.int(1) }), /storage_order=1/);
});

/** dX of a one-node graph for seed dY, without finite differences. */
async function gradientOf(opType: string, x: Float32Array, xShape: number[], attributes: Record<string, Attribute>, opset: number, dy: (n: number) => number) {
  const model: Model = {
    irVersion: 8,
    opsetImports: [{ domain: "", version: opset }],
    producerName: "test",
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    docString: "",
    metadata: [],
    functions: [],
    graph: {
      name: "g",
      nodes: [{ name: "op", opType, domain: "", inputs: ["x"], outputs: ["y"], attributes }],
      inputs: [{ name: "x", elemType: DataType.FLOAT, shape: xShape }],
      outputs: [{ name: "y", elemType: DataType.FLOAT }],
      initializers: [],
      valueInfo: [],
    },
  };
  const feeds = { x: float32(xShape, x) };
  const shapes = await probeShapes(model, feeds);
  const yShape = shapes.get("y")?.dims ?? [];
  model.graph.inputs.push({ name: "dy", elemType: DataType.FLOAT, shape: yShape });
  const grads = appendGradients(model, { seeds: [{ value: "y", seed: "dy" }], wrt: ["x"], shapes });
  const g = grads.get("x") as string;
  model.graph.outputs.push({ name: g, elemType: DataType.FLOAT });
  const session = await createSession(model);
  const dyData = Float32Array.from({ length: size(yShape) }, (_, i) => dy(i));
  const out = await session.run({ ...feeds, dy: float32(yShape, dyData) }, [g]);
  await session.release();
  return { dx: out[g].data as Float32Array, dy: dyData };
}

test("MaxPool ties (all-zero input, as after a Relu) route each window's gradient to one element", async () => {
  for (const opset of [11, 17]) {
    for (const attributes of <Record<string, Attribute>[]>[
      { kernel_shape: k(2, 2), strides: k(2, 2) },
      { kernel_shape: k(3, 3), strides: k(2, 2), pads: k(1, 1, 1, 1) },
    ]) {
      const { dx, dy } = await gradientOf("MaxPool", new Float32Array(2 * 3 * 6 * 6), [2, 3, 6, 6], attributes, opset, (i) => 1 + (i % 7));
      const sum = (a: Float32Array) => a.reduce((s, v) => s + v, 0);
      assert.equal(sum(dx), sum(dy), `opset ${opset}: each window's dY is counted once`);
    }
  }
});

test("AveragePool count_include_pad 0 and 1 with pads and strides", async () => {
  for (const cip of [0, 1]) {
    await pool("AveragePool", [2, 2, 6, 7], { kernel_shape: k(3, 3), strides: k(2, 2), pads: k(1, 0, 1, 2), count_include_pad: attr.int(cip) });
    await pool("AveragePool", [1, 3, 5, 5], { kernel_shape: k(2, 2), strides: k(1, 1), pads: k(1, 1, 1, 1), count_include_pad: attr.int(cip) }, 11);
  }
});

test("AveragePool ceil_mode with both count_include_pad, 1-D, non-overlapping 2x2", async () => {
  for (const cip of [0, 1]) {
    await pool("AveragePool", [2, 2, 8, 7], {
      kernel_shape: k(3, 2),
      strides: k(2, 2),
      pads: k(1, 0, 1, 0),
      ceil_mode: attr.int(1),
      count_include_pad: attr.int(cip),
    });
    await pool("AveragePool", [2, 3, 8], { kernel_shape: k(3), strides: k(2), pads: k(1, 1), ceil_mode: attr.int(1), count_include_pad: attr.int(cip) }, 13);
  }
  await pool("AveragePool", [2, 3, 6, 4], { kernel_shape: k(2, 2), strides: k(2, 2) }, 11);
});

test("AveragePool SAME_LOWER, SAME_UPPER counting pads, and, at opset 19, dilations", async () => {
  await pool("AveragePool", [2, 2, 7, 5], { kernel_shape: k(3, 2), strides: k(2, 1), auto_pad: attr.string("SAME_LOWER") });
  await pool("AveragePool", [2, 2, 7, 6], { kernel_shape: k(3, 3), strides: k(2, 2), auto_pad: attr.string("SAME_UPPER"), count_include_pad: attr.int(1) });
  for (const cip of [0, 1]) {
    await pool("AveragePool", [1, 2, 7, 7], { kernel_shape: k(2, 3), dilations: k(2, 2), pads: k(1, 1, 0, 1), count_include_pad: attr.int(cip) }, 19);
  }
});

test("GlobalAveragePool and GlobalMaxPool, 2-D and 1-D", async () => {
  for (const opset of [11, 17]) {
    for (const shape of [
      [2, 3, 4, 5],
      [2, 3, 6],
    ]) {
      await pool("GlobalAveragePool", shape, {}, opset);
      await pool("GlobalMaxPool", shape, {}, opset);
    }
  }
});
