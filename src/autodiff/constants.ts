/**
 * Static values for VJP rules: the value of a constant input (Slice starts, Pad pads…)
 * read from the graph's initializers or the Constant node that produces it, and zeros
 * of a static shape for gradients that no output contributes to.
 */
import type { GraphBuilder } from "../onnx/builder.js";
import { attr, DataType, type Node, type TensorData } from "../onnx/ir.js";
import { unsupported, type VjpContext } from "./rule.js";

/**
 * The elements of `name` when it is fixed for the gradient graph's input shape: a constant
 * of the graph (an initializer or a Constant node's output) or a value computed from shapes
 * and constants alone (Shape → Gather → Div…, recorded by the shape probe); undefined when
 * it depends on the data. An initializer that is also a graph input is taken at its stored
 * value, as old exporters list every initializer among the inputs.
 */
export function constantNumbers(ctx: VjpContext, name: string): number[] | undefined {
  const graph = ctx.b.graph;
  const init = graph.initializers.find((t) => t.name === name);
  if (init) return toNumbers(init.data);
  const producer = graph.nodes.find((n) => n.outputs.includes(name));
  if (producer?.opType === "Constant" && (producer.domain === "" || producer.domain === "ai.onnx")) {
    const value = constantNodeValue(producer);
    if (value) return value;
  }
  const fixed = ctx.fixedValue(name);
  return fixed ? [...fixed] : undefined;
}

/** Like constantNumbers, for inputs a rule cannot do without: says which one depends on the data, and where it comes in. */
export function constantValue(ctx: VjpContext, name: string, what: string): number[] {
  const value = constantNumbers(ctx, name);
  if (value) return value;
  const source = ctx.dataSource(name);
  return unsupported(
    ctx.node,
    source ? `${what} that depend on the input's values (through ${source}), not only on its shape` : `${what} too large to read as a constant`,
  );
}

function constantNodeValue(node: Node): number[] | undefined {
  for (const a of Object.values(node.attributes)) {
    if (a.type === "tensor") return toNumbers(a.value.data);
    if (a.type === "int" || a.type === "float") return [a.value];
    if (a.type === "ints" || a.type === "floats") return [...a.value];
  }
  return undefined;
}

function toNumbers(data: TensorData): number[] {
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return Array.from(data, (v) => Number(v));
  return Array.from(data);
}

/** An axis attribute in [0, rank), negative values counting from the end. */
export function normalizeAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/** Zeros of a static shape and floating-point type, without a large initializer. */
export function zerosOf(b: GraphBuilder, dims: readonly number[], dataType: DataType): string {
  const zero =
    dataType === DataType.DOUBLE
      ? new Float64Array(1)
      : dataType === DataType.FLOAT16 || dataType === DataType.BFLOAT16
        ? new Uint16Array(1)
        : new Float32Array(1);
  return b.op("ConstantOfShape", [b.int64s(dims)], { value: attr.tensor({ name: "", dataType, dims: [1], data: zero }) });
}

/** Reshape to a static shape; a 0 in it would mean "copy that dimension", so empty shapes get zeros instead. */
export function reshapeTo(b: GraphBuilder, x: string, dims: readonly number[], dataType: DataType): string {
  return dims.includes(0) ? zerosOf(b, dims, dataType) : b.reshape(x, dims);
}
