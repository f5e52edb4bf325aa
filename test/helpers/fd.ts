/**
 * Checks a VJP rule against central finite differences: builds a one-node model, takes
 * L = Σ seedᵢ·outputᵢ with random seeds, and compares the gradient graph's ∂L/∂input
 * with (L(x+h·eₖ) − L(x−h·eₖ)) / 2h for every element k of every differentiable input.
 */
import assert from "node:assert/strict";
import { appendGradients } from "../../src/autodiff/gradient.js";
import { createRng } from "../../src/data/random.js";
import { probeShapes } from "../../src/engine/probe.js";
import { createSession } from "../../src/engine/runtime.js";
import { type Attribute, DataType, emptyModel, type Model, type TensorValue } from "../../src/onnx/ir.js";
import { float32, type Tensor, tensor } from "../../src/tensor.js";

export interface FdInput {
  shape: number[];
  /** Values; random N(0,1) when omitted. */
  data?: number[] | Float32Array;
  /** Take the gradient with respect to this input (default true). */
  grad?: boolean;
  /** Feed as a constant initializer (shape tensors, axes, indices) instead of a graph input. */
  constant?: TensorValue["data"];
  dataType?: DataType;
}

export interface FdCase {
  opType: string;
  inputs: (FdInput | null)[];
  attributes?: Record<string, Attribute>;
  outputs?: number;
  opset?: number;
  seed?: number;
  /** Finite-difference step. */
  h?: number;
  /** Tolerance: |fd − analytic| ≤ atol + rtol·max|analytic|. */
  rtol?: number;
  atol?: number;
  /** Output indices that feed the loss (default all float outputs). */
  lossOutputs?: number[];
}

export async function checkVjp(c: FdCase): Promise<{ maxError: number; checked: number }> {
  const rng = createRng(c.seed ?? 1);
  const opset = c.opset ?? 17;
  const nOut = c.outputs ?? 1;
  const model: Model = emptyModel(opset, "fd", "fd");
  const feeds: Record<string, Tensor> = {};
  const inputNames: string[] = [];
  const wrt: string[] = [];
  c.inputs.forEach((inp, i) => {
    if (inp === null) {
      inputNames.push("");
      return;
    }
    const name = `in${i}`;
    inputNames.push(name);
    if (inp.constant !== undefined) {
      model.graph.initializers.push({ name, dataType: inp.dataType ?? DataType.INT64, dims: inp.shape, data: inp.constant });
      return;
    }
    const n = inp.shape.reduce((a, b) => a * b, 1);
    const data = inp.data ? Float32Array.from(inp.data) : Float32Array.from({ length: n }, () => rng.normal());
    model.graph.inputs.push({ name, elemType: DataType.FLOAT, shape: inp.shape });
    feeds[name] = float32(inp.shape, data);
    if (inp.grad !== false) wrt.push(name);
  });
  const outNames = Array.from({ length: nOut }, (_, i) => `out${i}`);
  model.graph.nodes.push({ name: "op", opType: c.opType, domain: "", inputs: inputNames, outputs: outNames, attributes: c.attributes ?? {} });
  // Type left for ONNX Runtime to infer: not every output is float (TopK's indices).
  for (const o of outNames) model.graph.outputs.push({ name: o, elemType: DataType.UNDEFINED });

  const shapes = await probeShapes(model, feeds);
  const lossOutputs = c.lossOutputs ?? outNames.map((_, i) => i).filter((i) => isSeeded(shapes.get(outNames[i])?.dataType));
  const seeds: Record<string, Float32Array | Float64Array> = {};
  const forward = await createSession(model);

  const gradModel: Model = structuredClone(model);
  const seedPairs = lossOutputs.map((i) => {
    const o = outNames[i];
    const dims = shapes.get(o)?.dims ?? [];
    const seedName = `seed${i}`;
    const n = dims.reduce((a, b) => a * b, 1);
    // A double output (e.g. of Cast) needs a double seed.
    if (shapes.get(o)?.dataType === DataType.DOUBLE) {
      const seed = Float64Array.from({ length: n }, () => rng.normal());
      seeds[o] = seed;
      gradModel.graph.inputs.push({ name: seedName, elemType: DataType.DOUBLE, shape: dims });
      feeds[seedName] = tensor("float64", dims, seed);
    } else {
      const seed = Float32Array.from({ length: n }, () => rng.normal());
      seeds[o] = seed;
      gradModel.graph.inputs.push({ name: seedName, elemType: DataType.FLOAT, shape: dims });
      feeds[seedName] = float32(dims, seed);
    }
    return { value: o, seed: seedName };
  });
  const grads = appendGradients(gradModel, { seeds: seedPairs, wrt, shapes });
  const gradOutputs = wrt.map((w) => grads.get(w) as string);
  for (const g of gradOutputs) gradModel.graph.outputs.push({ name: g, elemType: DataType.FLOAT });
  const backward = await createSession(gradModel);
  const analytic = await backward.run(feeds, gradOutputs);

  const loss = async (f: Record<string, Tensor>) => {
    // No float output (e.g. a Cast to an integer type): nothing to differentiate, L = 0.
    if (lossOutputs.length === 0) return 0;
    const out = await forward.run(
      f,
      lossOutputs.map((i) => outNames[i]),
    );
    let s = 0;
    for (const i of lossOutputs) {
      const y = out[outNames[i]].data as Float32Array | Float64Array;
      const w = seeds[outNames[i]];
      for (let k = 0; k < y.length; k++) s += y[k] * w[k];
    }
    return s;
  };
  const h = c.h ?? 1e-2;
  let maxError = 0;
  let checked = 0;
  for (let wi = 0; wi < wrt.length; wi++) {
    const name = wrt[wi];
    const an = analytic[gradOutputs[wi]];
    assert.deepEqual([...an.shape], [...feeds[name].shape], `gradient of ${name} has the input's shape`);
    const base = feeds[name].data as Float32Array;
    const anData = an.data as Float32Array;
    const scale = Math.max(1e-6, ...Array.from(anData, Math.abs));
    const rtol = c.rtol ?? 1e-2;
    const atol = c.atol ?? 1e-3;
    for (let k = 0; k < base.length; k++) {
      const plus = Float32Array.from(base);
      plus[k] += h;
      const minus = Float32Array.from(base);
      minus[k] -= h;
      const fd =
        ((await loss({ ...feeds, [name]: float32(feeds[name].shape, plus) })) - (await loss({ ...feeds, [name]: float32(feeds[name].shape, minus) }))) /
        (2 * h);
      const err = Math.abs(fd - anData[k]);
      maxError = Math.max(maxError, err / scale);
      checked++;
      assert.ok(err <= atol + rtol * scale, `${c.opType}: d/d${name}[${k}] analytic ${anData[k]} vs finite difference ${fd} (scale ${scale})`);
    }
  }
  await forward.release();
  await backward.release();
  return { maxError, checked };
}

function isSeeded(t: DataType | undefined): boolean {
  return t === DataType.FLOAT || t === DataType.DOUBLE;
}
