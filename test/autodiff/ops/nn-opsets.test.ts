/**
 * The backward nodes of every nn rule load and agree at every opset from 11 to 21:
 * ops whose attributes became inputs (ReduceSum 13, Squeeze/Unsqueeze 13, ReduceMean 18)
 * and the scatter forms chosen by opset (16) must all be emitted in the right form.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { appendGradients } from "../../../src/autodiff/gradient.js";
import { createRng } from "../../../src/data/random.js";
import { probeShapes } from "../../../src/engine/probe.js";
import { createSession } from "../../../src/engine/runtime.js";
import { type Attribute, attr, DataType, emptyModel, type Model } from "../../../src/onnx/ir.js";
import { float32, type Tensor } from "../../../src/tensor.js";

interface Case {
  opType: string;
  inputs: { shape: number[]; indices?: number[]; distinct?: boolean }[];
  attributes?: Record<string, Attribute>;
  minOpset?: number;
}

const size = (s: number[]) => s.reduce((a, c) => a * c, 1);

async function gradients(c: Case, opset: number): Promise<Float32Array[]> {
  const rng = createRng(7);
  const model: Model = emptyModel(opset, "g", "test");
  const feeds: Record<string, Tensor> = {};
  const wrt: string[] = [];
  c.inputs.forEach((inp, i) => {
    const name = `in${i}`;
    if (inp.indices) {
      model.graph.initializers.push({ name, dataType: DataType.INT64, dims: inp.shape, data: BigInt64Array.from(inp.indices, (v) => BigInt(v)) });
      return;
    }
    const n = size(inp.shape);
    const data = inp.distinct ? rng.shuffle(Array.from({ length: n }, (_, k) => k / n)) : Array.from({ length: n }, () => rng.normal());
    model.graph.inputs.push({ name, elemType: DataType.FLOAT, shape: inp.shape });
    feeds[name] = float32(inp.shape, data);
    wrt.push(name);
  });
  model.graph.nodes.push({
    name: "op",
    opType: c.opType,
    domain: "",
    inputs: c.inputs.map((_, i) => `in${i}`),
    outputs: ["y"],
    attributes: c.attributes ?? {},
  });
  model.graph.outputs.push({ name: "y", elemType: DataType.FLOAT });
  const shapes = await probeShapes(model, feeds);
  const dims = shapes.get("y")?.dims ?? [];
  model.graph.inputs.push({ name: "seed", elemType: DataType.FLOAT, shape: dims });
  feeds.seed = float32(
    dims,
    Array.from({ length: size(dims) }, () => rng.normal()),
  );
  const grads = appendGradients(model, { seeds: [{ value: "y", seed: "seed" }], wrt, shapes });
  const names = wrt.map((w) => grads.get(w) as string);
  for (const g of names) model.graph.outputs.push({ name: g, elemType: DataType.FLOAT });
  const session = await createSession(model);
  const out = await session.run(feeds, names);
  await session.release();
  return names.map((g) => out[g].data as Float32Array);
}

const k = (...v: number[]) => attr.ints(v);
const CASES: Case[] = [
  {
    opType: "Conv",
    inputs: [{ shape: [2, 4, 6, 5] }, { shape: [4, 2, 3, 3] }, { shape: [4] }],
    attributes: { group: attr.int(2), strides: k(2, 1), pads: k(1, 0, 1, 1) },
  },
  {
    opType: "ConvTranspose",
    inputs: [{ shape: [2, 2, 3, 4] }, { shape: [2, 3, 2, 2] }, { shape: [3] }],
    attributes: { strides: k(2, 2), output_padding: k(1, 0) },
  },
  { opType: "MatMul", inputs: [{ shape: [2, 1, 3, 4] }, { shape: [3, 4, 2] }] },
  { opType: "MatMul", inputs: [{ shape: [2, 3, 4] }, { shape: [4, 5] }] },
  { opType: "MaxPool", inputs: [{ shape: [2, 2, 6, 6], distinct: true }], attributes: { kernel_shape: k(2, 2), strides: k(2, 2) } },
  { opType: "MaxPool", inputs: [{ shape: [2, 2, 7, 7], distinct: true }], attributes: { kernel_shape: k(3, 3), strides: k(2, 2), pads: k(1, 1, 1, 1) } },
  {
    opType: "AveragePool",
    inputs: [{ shape: [2, 2, 7, 6] }],
    attributes: { kernel_shape: k(3, 2), strides: k(2, 2), pads: k(1, 1, 1, 1), ceil_mode: attr.int(1) },
  },
  { opType: "GlobalAveragePool", inputs: [{ shape: [2, 3, 4, 4] }] },
  { opType: "GlobalMaxPool", inputs: [{ shape: [2, 3, 4, 4], distinct: true }] },
  { opType: "BatchNormalization", inputs: [{ shape: [2, 3, 4, 4] }, { shape: [3] }, { shape: [3] }, { shape: [3] }, { shape: [3], distinct: true }] },
  { opType: "InstanceNormalization", inputs: [{ shape: [2, 3, 4, 4] }, { shape: [3] }, { shape: [3] }] },
  { opType: "LayerNormalization", inputs: [{ shape: [2, 3, 4] }, { shape: [3, 4] }, { shape: [3, 4] }], attributes: { axis: attr.int(1) }, minOpset: 17 },
  { opType: "Gather", inputs: [{ shape: [5, 3] }, { shape: [4], indices: [1, 3, 1, -1] }] },
  { opType: "Gather", inputs: [{ shape: [2, 5, 3] }, { shape: [2, 2], indices: [4, 0, 4, 4] }], attributes: { axis: attr.int(1) } },
];

test("nn rules: gradient graphs load and agree at opsets 11 to 21", async () => {
  for (const c of CASES) {
    const reference = await gradients(c, 17);
    for (let opset = c.minOpset ?? 11; opset <= 21; opset++) {
      if (opset === 17) continue;
      const got = await gradients(c, opset);
      got.forEach((g, i) => {
        for (let j = 0; j < g.length; j++) {
          assert.ok(
            Math.abs(g[j] - reference[i][j]) <= 1e-4 * (1 + Math.abs(reference[i][j])),
            `${c.opType} at opset ${opset}: input ${i}[${j}] ${g[j]} vs ${reference[i][j]} at opset 17`,
          );
        }
      });
    }
  }
});
