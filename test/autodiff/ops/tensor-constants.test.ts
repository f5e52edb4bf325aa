import assert from "node:assert/strict";
import { test } from "node:test";
import { appendGradients } from "../../../src/autodiff/gradient.js";
import { Constant } from "../../../src/autodiff/ops/Constant.js";
import { Slice } from "../../../src/autodiff/ops/Slice.js";
import type { VjpContext } from "../../../src/autodiff/rule.js";
import { probeShapes } from "../../../src/engine/probe.js";
import { createSession } from "../../../src/engine/runtime.js";
import { AegisError } from "../../../src/errors.js";
import { GraphBuilder } from "../../../src/onnx/builder.js";
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

test("Slice with starts computed at run time says so by name", () => {
  const graph: Graph = { name: "g", nodes: [node("Shape", ["x"], ["starts"])], inputs: [], outputs: [], initializers: [], valueInfo: [] };
  const sliceNode = node("Slice", ["x", "starts", "ends"], ["y"]);
  const ctx: VjpContext = {
    node: sliceNode,
    b: new GraphBuilder(graph, 13),
    dy: ["dy"],
    shape: (v) => (v === "x" ? [4] : [2]),
    dataType: () => DataType.FLOAT,
    unbroadcast: () => assert.fail("not used"),
  };
  const thunk = Slice.grad(ctx)[0];
  assert.ok(thunk);
  assert.throws(thunk, (e: unknown) => e instanceof AegisError && e.code === "UNSUPPORTED" && e.message.includes("a non-constant starts"));
});

test("Constant has no inputs and so no gradient thunks", () => {
  const ctx = { node: node("Constant", [], ["c"]) } as unknown as VjpContext;
  assert.deepEqual(Constant.grad(ctx), []);
});
