import assert from "node:assert/strict";
import { test } from "node:test";
import { appendGradients, type GradientProblem } from "../../../src/autodiff/gradient.js";
import { Constant } from "../../../src/autodiff/ops/Constant.js";
import type { VjpContext } from "../../../src/autodiff/rule.js";
import { probeShapes } from "../../../src/engine/probe.js";
import { createSession } from "../../../src/engine/runtime.js";
import { AegisError } from "../../../src/errors.js";
import { attr, DataType, emptyModel, type Graph, type Model, type Node } from "../../../src/onnx/ir.js";
import { float32 } from "../../../src/tensor.js";

function model(nodes: Node[], graph: Partial<Graph>, opset = 13): Model {
  const m = emptyModel(opset, "g", "test");
  return { ...m, graph: { ...m.graph, nodes, ...graph } };
}

const node = (opType: string, inputs: string[], outputs: string[], attributes: Node["attributes"] = {}): Node => ({
  name: outputs[0],
  opType,
  domain: "",
  inputs,
  outputs,
  attributes,
});

test("Slice reads starts, ends and steps from Constant nodes; a Constant factor stops the gradient", async () => {
  // y = Slice(x, [1], [4], axes [1], steps [2]) · c, x of shape [2, 5]: takes columns 1 and 3.
  const m = model(
    [
      node("Constant", [], ["starts"], { value: attr.tensor({ name: "", dataType: DataType.INT64, dims: [1], data: BigInt64Array.of(1n) }) }),
      node("Constant", [], ["ends"], { value_ints: attr.ints([4]) }),
      node("Constant", [], ["steps"], { value_ints: attr.ints([2]) }),
      node("Constant", [], ["c"], { value_float: attr.float(3) }),
      node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"]),
      node("Mul", ["s", "c"], ["y"]),
    ],
    {
      inputs: [{ name: "x", elemType: DataType.FLOAT, shape: [2, 5] }],
      outputs: [{ name: "y", elemType: DataType.FLOAT }],
      initializers: [{ name: "axes", dataType: DataType.INT64, dims: [1], data: BigInt64Array.of(1n) }],
    },
  );
  const x = float32(
    [2, 5],
    Array.from({ length: 10 }, (_, i) => i / 10),
  );
  const shapes = await probeShapes(m, { x });
  m.graph.inputs.push({ name: "seed", elemType: DataType.FLOAT, shape: [2, 2] });
  const grads = appendGradients(m, { seeds: [{ value: "y", seed: "seed" }], wrt: ["x"], shapes });
  const dx = grads.get("x") as string;
  m.graph.outputs.push({ name: dx, elemType: DataType.FLOAT });
  const session = await createSession(m);
  const out = await session.run({ x, seed: float32([2, 2], [1, 2, 3, 4]) }, [dx]);
  await session.release();
  assert.deepEqual([...out[dx].shape], [2, 5]);
  assert.deepEqual([...(out[dx].data as Float32Array)], [0, 3, 0, 6, 0, 0, 9, 0, 12, 0]);
});

/** y = Slice(x, starts, ends, axes [1]) · 2 with x [2, 6], starts and ends computed by `nodes`; ∂Σ(seed·y)/∂x. */
async function sliceGradient(nodes: Node[], problems?: GradientProblem[]): Promise<Float32Array> {
  const m = model([...nodes, node("Slice", ["x", "starts", "ends", "axes"], ["s"]), node("Mul", ["s", "two"], ["y"])], {
    inputs: [{ name: "x", elemType: DataType.FLOAT, shape: [2, 6] }],
    outputs: [{ name: "y", elemType: DataType.FLOAT }],
    initializers: [
      { name: "axes", dataType: DataType.INT64, dims: [1], data: BigInt64Array.of(1n) },
      { name: "two", dataType: DataType.FLOAT, dims: [], data: Float32Array.of(2) },
      { name: "one", dataType: DataType.INT64, dims: [1], data: BigInt64Array.of(1n) },
      { name: "three", dataType: DataType.INT64, dims: [], data: BigInt64Array.of(3n) },
    ],
  });
  const x = float32(
    [2, 6],
    Array.from({ length: 12 }, (_, i) => ((i * 7) % 12) / 12),
  );
  const shapes = await probeShapes(m, { x });
  const dims = shapes.get("y")?.dims ?? [];
  m.graph.inputs.push({ name: "seed", elemType: DataType.FLOAT, shape: dims });
  const dx = appendGradients(m, { seeds: [{ value: "y", seed: "seed" }], wrt: ["x"], shapes, problems }).get("x") as string;
  m.graph.outputs.push({ name: dx, elemType: DataType.FLOAT });
  const session = await createSession(m);
  const out = await session.run({ x, seed: float32(dims, new Array(dims[0] * dims[1]).fill(1)) }, [dx]);
  await session.release();
  return out[dx].data as Float32Array;
}

test("Slice bounds computed from the input's shape (torch's chunk: Shape → Gather → Div) are read as constants", async () => {
  // starts = [1], ends = [1 + 6/3] = [3]: columns 1 and 2.
  const grad = await sliceGradient([
    node("Shape", ["x"], ["shape"]),
    node("Gather", ["shape", "one"], ["width"]),
    node("Div", ["width", "three"], ["third"]),
    node("Add", ["third", "one"], ["ends"]),
    node("Identity", ["one"], ["starts"]),
  ]);
  assert.deepEqual([...grad], [0, 2, 2, 0, 0, 0, 0, 2, 2, 0, 0, 0]);
});

test("Slice bounds that depend on the input's values are refused, naming the node where the data comes in", async () => {
  // ends = argmax of x's first row + 1: data-dependent.
  const nodes = [
    node("ArgMax", ["x"], ["best"], { axis: attr.int(1), keepdims: attr.int(0) }),
    node("Gather", ["best", "zero"], ["first"]),
    node("Add", ["first", "one"], ["ends"]),
    node("Identity", ["one"], ["starts"]),
  ];
  const zero = node("Constant", [], ["zero"], { value: attr.tensor({ name: "", dataType: DataType.INT64, dims: [1], data: BigInt64Array.of(0n) }) });
  await assert.rejects(sliceGradient([zero, ...nodes]), (e: unknown) => {
    assert.ok(e instanceof AegisError && e.code === "NOT_DIFFERENTIABLE");
    assert.match(e.message, /Slice "s" \(ends that depend on the input's values \(through ArgMax node "best", which reads the input "x"\)/);
    return true;
  });
  const problems: GradientProblem[] = [];
  await sliceGradient([zero, ...nodes], problems);
  assert.deepEqual(
    problems.map((p) => [p.opType, p.name]),
    [["Slice", "s"]],
  );
});

test("Constant has no inputs and so no gradient thunks", () => {
  const ctx = { node: node("Constant", [], ["c"]) } as unknown as VjpContext;
  assert.deepEqual(Constant.grad(ctx), []);
});
