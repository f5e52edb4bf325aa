/**
 * Emits ONNX nodes into a graph from TypeScript. Names are made unique with a prefix,
 * constants become initializers, and the helpers for ops whose signature changed
 * between opsets (axes as attribute or input, Split sizes, …) emit the form that the
 * graph's opset expects, so gradient nodes can be appended to a user's model of any
 * opset from 11 on without converting it.
 */
import { type Attribute, attr, DataType, type Graph, type Node, type TensorData, type TensorValue, type ValueInfo } from "./ir.js";

export class GraphBuilder {
  readonly graph: Graph;
  readonly opset: number;
  private readonly prefix: string;
  private counter = 0;
  private readonly taken: Set<string>;

  constructor(graph: Graph, opset: number, prefix = "aegis") {
    this.graph = graph;
    this.opset = opset;
    this.prefix = prefix;
    this.taken = new Set<string>();
    for (const v of [...graph.inputs, ...graph.outputs, ...graph.valueInfo]) this.taken.add(v.name);
    for (const t of graph.initializers) this.taken.add(t.name);
    for (const n of graph.nodes) for (const o of [...n.outputs, n.name]) this.taken.add(o);
  }

  /** A value name not yet used in the graph. */
  fresh(hint: string): string {
    let name: string;
    do name = `${this.prefix}/${hint}_${this.counter++}`;
    while (this.taken.has(name));
    this.taken.add(name);
    return name;
  }

  /** Appends a node and returns its output names. */
  node(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}, outputs: number | string[] = 1, domain = ""): string[] {
    const outs = typeof outputs === "number" ? Array.from({ length: outputs }, () => this.fresh(opType.toLowerCase())) : outputs;
    for (const o of outs) this.taken.add(o);
    const n: Node = { name: this.fresh(`${opType}_node`), opType, domain, inputs, outputs: outs, attributes };
    this.graph.nodes.push(n);
    return outs;
  }

  /** Appends a single-output node and returns its output name. */
  op(opType: string, inputs: string[], attributes: Record<string, Attribute> = {}): string {
    return this.node(opType, inputs, attributes)[0];
  }

  initializer(dataType: DataType, dims: number[], data: TensorData, hint = "const"): string {
    return this.namedInitializer(this.fresh(hint), dataType, dims, data);
  }

  /** An initializer under exactly `name` (model parameters keep readable names such as conv1.weight). */
  namedInitializer(name: string, dataType: DataType, dims: number[], data: TensorData): string {
    if (this.graph.initializers.some((t) => t.name === name)) throw new Error(`initializer ${name} already exists`);
    this.taken.add(name);
    const t: TensorValue = { name, dataType, dims, data };
    this.graph.initializers.push(t);
    return name;
  }

  /** A float scalar (rank 0) — broadcasts against anything. */
  scalar(value: number, dataType: DataType = DataType.FLOAT): string {
    if (dataType === DataType.DOUBLE) return this.initializer(dataType, [], Float64Array.of(value), "scalar");
    const f = this.initializer(DataType.FLOAT, [], Float32Array.of(value), "scalar");
    // 16-bit floats are stored as raw half words, not float32: cast a float32 scalar instead.
    return dataType === DataType.FLOAT ? f : this.cast(f, dataType);
  }

  int64s(values: readonly number[]): string {
    return this.initializer(DataType.INT64, [values.length], BigInt64Array.from(values.map((v) => BigInt(v))), "ints");
  }

  addInput(name: string, elemType: DataType, shape: (number | string)[]): void {
    this.taken.add(name);
    this.graph.inputs.push({ name, elemType, shape });
  }

  addOutput(name: string, elemType: DataType, shape?: (number | string | undefined)[]): void {
    const info: ValueInfo = { name, elemType, shape };
    this.graph.outputs.push(info);
  }

  // ------------------------------------------------------------- opset-aware helpers

  private reduce(opType: string, x: string, axes: readonly number[] | undefined, keepdims: boolean, axesAsInputSince: number): string {
    const attrs: Record<string, Attribute> = { keepdims: attr.int(keepdims ? 1 : 0) };
    if (axes === undefined) return this.op(opType, [x], attrs);
    if (this.opset >= axesAsInputSince) return this.op(opType, [x, this.int64s(axes)], attrs);
    return this.op(opType, [x], { ...attrs, axes: attr.ints([...axes]) });
  }

  /** ReduceSum over `axes` (all axes when undefined). */
  reduceSum(x: string, axes: readonly number[] | undefined, keepdims: boolean): string {
    return this.reduce("ReduceSum", x, axes, keepdims, 13);
  }

  reduceMean(x: string, axes: readonly number[] | undefined, keepdims: boolean): string {
    return this.reduce("ReduceMean", x, axes, keepdims, 18);
  }

  reduceSumSquare(x: string, axes: readonly number[] | undefined, keepdims: boolean): string {
    return this.reduce("ReduceSumSquare", x, axes, keepdims, 18);
  }

  reduceMax(x: string, axes: readonly number[] | undefined, keepdims: boolean): string {
    return this.reduce("ReduceMax", x, axes, keepdims, 18);
  }

  squeeze(x: string, axes: readonly number[]): string {
    if (this.opset >= 13) return this.op("Squeeze", [x, this.int64s(axes)]);
    return this.op("Squeeze", [x], { axes: attr.ints([...axes]) });
  }

  unsqueeze(x: string, axes: readonly number[]): string {
    if (this.opset >= 13) return this.op("Unsqueeze", [x, this.int64s(axes)]);
    return this.op("Unsqueeze", [x], { axes: attr.ints([...axes]) });
  }

  /** Slice with static starts/ends (opset ≥ 10 form). */
  slice(x: string, starts: readonly number[], ends: readonly number[], axes: readonly number[], steps?: readonly number[]): string {
    const inputs = [x, this.int64s(starts), this.int64s(ends), this.int64s(axes)];
    if (steps) inputs.push(this.int64s(steps));
    return this.op("Slice", inputs);
  }

  /** Pads with zeros (opset ≥ 11 form); `pads` is [begin_0, …, begin_n, end_0, …, end_n]. */
  padZeros(x: string, pads: readonly number[]): string {
    return this.op("Pad", [x, this.int64s(pads)], { mode: attr.string("constant") });
  }

  reshape(x: string, shape: readonly number[] | string): string {
    return this.op("Reshape", [x, typeof shape === "string" ? shape : this.int64s(shape)]);
  }

  transpose(x: string, perm: readonly number[]): string {
    return this.op("Transpose", [x], { perm: attr.ints([...perm]) });
  }

  shapeOf(x: string): string {
    return this.op("Shape", [x]);
  }

  /** Float32 zeros with the shape of `like`. */
  zerosLike(like: string): string {
    return this.op("ConstantOfShape", [this.shapeOf(like)]);
  }

  concat(xs: string[], axis: number): string {
    return this.op("Concat", xs, { axis: attr.int(axis) });
  }

  cast(x: string, to: DataType): string {
    return this.op("Cast", [x], { to: attr.int(to) });
  }
}
