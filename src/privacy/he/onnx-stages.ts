/**
 * Reads an ONNX classifier as the stages of model.ts. Every op between two activations
 * is composed into one affine map (Gemm, MatMul, Conv, AveragePool, GlobalAveragePool,
 * BatchNormalization, Add/Sub/Mul/Div by constants, Flatten, Reshape); an activation is
 * a polynomial found in the graph (Mul(x, x), Pow(x, 2), products and sums of those with
 * constants) or ReLU/sigmoid/tanh, to be replaced by a fitted polynomial; a final
 * Softmax, LogSoftmax or Sigmoid is left to the client, who applies it after decrypting.
 * Ops CKKS cannot evaluate (comparisons, max-pooling, division by a value…) are all named
 * at once, with what to use instead.
 */
import { AegisError } from "../../errors.js";
import { DataType, getFloat, getInt, getInts, type Model, type Node, type TensorValue } from "../../onnx/index.js";
import { type AffineStage, type ConvShape, type Stage, unrollConv } from "./model.js";
import { addPoly, degreeOf, type FittedActivation, mulPoly, type Polynomial, scalePoly } from "./polynomial.js";

export interface OnnxStages {
  /** Stages with fitted activations still unfitted: their coefficients are empty until calibration. */
  stages: Stage[];
  inputShape: number[];
  outputTransform: "softmax" | "sigmoid" | "none";
}

const SUPPORTED = new Set([
  "Identity",
  "Dropout",
  "Flatten",
  "Reshape",
  "Gemm",
  "MatMul",
  "Add",
  "Sub",
  "Mul",
  "Div",
  "Neg",
  "Pow",
  "Conv",
  "AveragePool",
  "GlobalAveragePool",
  "BatchNormalization",
  "Relu",
  "Sigmoid",
  "Tanh",
  "Softmax",
  "LogSoftmax",
  "Constant",
]);

const INSTEAD: Record<string, string> = {
  MaxPool: "use AveragePool",
  GlobalMaxPool: "use GlobalAveragePool",
  LeakyRelu: "use Relu (fitted) or a square",
  Gelu: "use Relu (fitted) or a square",
};

/** Ops of `model` that CKKS inference cannot run, as "OpType (node name)". */
export function unsupportedOps(model: Model): string[] {
  return model.graph.nodes
    .filter((n) => !SUPPORTED.has(n.opType) || (n.domain !== "" && n.domain !== "ai.onnx"))
    .map((n) => `${n.opType} (node ${n.name || n.outputs[0]}${INSTEAD[n.opType] ? `: ${INSTEAD[n.opType]}` : ""})`);
}

/** y = map(x): identity, a uniform scale and shift, a convolution, or a dense matrix. */
type AffineMap =
  | { kind: "identity"; inputs: number }
  | { kind: "scalar"; inputs: number; a: number; c: number }
  | { kind: "conv"; inputs: number; conv: ConvShape; kernelWeight: Float64Array; bias: Float64Array }
  | { kind: "dense"; inputs: number; outputs: number; weight: Float64Array; bias: Float64Array };

type Sym =
  | { kind: "const"; dims: number[]; data: Float64Array }
  | { kind: "lin"; map: AffineMap; shape: number[] }
  | { kind: "poly"; map: AffineMap; shape: number[]; p: Polynomial }
  | { kind: "act"; map: AffineMap; shape: number[]; fn: FittedActivation }
  | { kind: "out"; map: AffineMap; shape: number[]; transform: "softmax" | "sigmoid" };

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

function outputsOf(map: AffineMap): number {
  if (map.kind === "dense") return map.outputs;
  if (map.kind === "conv") return map.conv.outChannels * map.conv.outHeight * map.conv.outWidth;
  return map.inputs;
}

function dense(map: AffineMap): { weight: Float64Array; bias: Float64Array } {
  const n = map.inputs;
  switch (map.kind) {
    case "dense":
      return map;
    case "conv": {
      const windows = map.conv.outHeight * map.conv.outWidth;
      return {
        weight: unrollConv(map.conv, map.kernelWeight),
        bias: Float64Array.from({ length: outputsOf(map) }, (_, i) => map.bias[Math.floor(i / windows)]),
      };
    }
    default: {
      const [a, c] = map.kind === "scalar" ? [map.a, map.c] : [1, 0];
      const weight = new Float64Array(n * n);
      for (let i = 0; i < n; i++) weight[i * n + i] = a;
      return { weight, bias: new Float64Array(n).fill(c) };
    }
  }
}

const uniform = (v: Float64Array) => v.every((x) => x === v[0]);

/** y' = a∘y + c, elementwise over the map's outputs. */
function elementwise(map: AffineMap, a: Float64Array, c: Float64Array): AffineMap {
  if ((map.kind === "identity" || map.kind === "scalar") && uniform(a) && uniform(c)) {
    const [a0, c0] = map.kind === "scalar" ? [map.a, map.c] : [1, 0];
    return { kind: "scalar", inputs: map.inputs, a: a[0] * a0, c: a[0] * c0 + c[0] };
  }
  if (map.kind === "conv") {
    const windows = map.conv.outHeight * map.conv.outWidth;
    const perChannel = (v: Float64Array) => Array.from({ length: map.conv.outChannels }, (_, o) => v.subarray(o * windows, (o + 1) * windows)).every(uniform);
    if (perChannel(a) && perChannel(c)) {
      const k = map.kernelWeight.length / map.conv.outChannels;
      return {
        ...map,
        kernelWeight: map.kernelWeight.map((w, i) => w * a[Math.floor(i / k) * windows]),
        bias: map.bias.map((b, o) => b * a[o * windows] + c[o * windows]),
      };
    }
  }
  const { weight, bias } = dense(map);
  const n = map.inputs;
  return {
    kind: "dense",
    inputs: n,
    outputs: a.length,
    weight: weight.map((w, i) => w * a[Math.floor(i / n)]),
    bias: bias.map((b, i) => b * a[i] + c[i]),
  };
}

/** y' = M·y + d with M [m × outputs]. */
function linear(map: AffineMap, m: Float64Array, d: Float64Array): AffineMap {
  const rows = d.length;
  const k = outputsOf(map);
  if (map.kind === "identity") return { kind: "dense", inputs: map.inputs, outputs: rows, weight: m, bias: d };
  const { weight, bias } = dense(map);
  const n = map.inputs;
  const out = new Float64Array(rows * n);
  const outBias = Float64Array.from(d);
  for (let r = 0; r < rows; r++) {
    const row = out.subarray(r * n, (r + 1) * n);
    for (let j = 0; j < k; j++) {
      const f = m[r * k + j];
      if (f === 0) continue;
      outBias[r] += f * bias[j];
      const w = weight.subarray(j * n, (j + 1) * n);
      for (let i = 0; i < n; i++) row[i] += f * w[i];
    }
  }
  return { kind: "dense", inputs: n, outputs: rows, weight: out, bias: outBias };
}

function convolve(map: AffineMap, conv: ConvShape, kernelWeight: Float64Array, bias: Float64Array): AffineMap {
  const padded = conv.pads.some((p) => p > 0);
  if (map.kind === "identity" || (map.kind === "scalar" && (!padded || map.c === 0))) {
    if (map.kind === "identity") return { kind: "conv", inputs: map.inputs, conv, kernelWeight, bias };
    const k = kernelWeight.length / conv.outChannels;
    const sums = Array.from({ length: conv.outChannels }, (_, o) => kernelWeight.subarray(o * k, (o + 1) * k).reduce((a, b) => a + b, 0));
    return { kind: "conv", inputs: map.inputs, conv, kernelWeight: kernelWeight.map((w) => w * map.a), bias: bias.map((b, o) => b + map.c * sums[o]) };
  }
  const windows = conv.outHeight * conv.outWidth;
  return linear(
    map,
    unrollConv(conv, kernelWeight),
    Float64Array.from({ length: conv.outChannels * windows }, (_, i) => bias[Math.floor(i / windows)]),
  );
}

function constOf(t: TensorValue): Sym {
  if (t.dataType === DataType.STRING) throw new AegisError("UNSUPPORTED", `the constant ${t.name} holds strings`);
  return { kind: "const", dims: t.dims, data: Float64Array.from(t.data as ArrayLike<number | bigint>, Number) };
}

/** A constant broadcast (numpy rules) to a value of `shape` (batch excluded). */
function broadcast(c: Extract<Sym, { kind: "const" }>, shape: readonly number[], where: string): Float64Array {
  const full = [1, ...shape];
  if (c.dims.length > full.length) throw new AegisError("UNSUPPORTED", `${where}: a constant of shape [${c.dims}] does not broadcast to [batch, ${shape}]`);
  const dims = [...Array(full.length - c.dims.length).fill(1), ...c.dims];
  if (dims[0] !== 1 || dims.some((d, i) => d !== 1 && d !== full[i]))
    throw new AegisError("UNSUPPORTED", `${where}: a constant of shape [${c.dims}] does not broadcast to [batch, ${shape}]`);
  const out = new Float64Array(size(shape));
  const index = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < out.length; i++) {
    let src = 0;
    for (let d = 0; d < shape.length; d++) src = src * dims[d + 1] + (dims[d + 1] === 1 ? 0 : index[d]);
    out[i] = c.data[src];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

export function onnxStages(model: Model): OnnxStages {
  const bad = unsupportedOps(model);
  if (bad.length > 0)
    throw new AegisError(
      "UNSUPPORTED",
      `CKKS cannot evaluate ${bad.length === 1 ? "this op" : "these ops"}: ${bad.join("; ")}. Encrypted inference needs additions and multiplications only`,
    );
  const graph = model.graph;
  const initializers = new Set(graph.initializers.map((t) => t.name));
  const inputs = graph.inputs.filter((i) => !initializers.has(i.name));
  if (inputs.length !== 1) throw new AegisError("UNSUPPORTED", `encrypted inference takes models with one input, this one has ${inputs.length}`);
  const inputShape = (inputs[0].shape ?? []).slice(1);
  if (inputShape.length === 0 || inputShape.some((d) => typeof d !== "number" || d < 1))
    throw new AegisError("BAD_MODEL", `the input ${inputs[0].name} needs a fixed shape after the batch dimension, not [${(inputs[0].shape ?? []).join(", ")}]`);
  const shape0 = inputShape as number[];
  if (graph.outputs.length !== 1) throw new AegisError("UNSUPPORTED", `encrypted inference takes models with one output, this one has ${graph.outputs.length}`);

  const values = new Map<string, Sym>();
  for (const t of graph.initializers) values.set(t.name, constOf(t));
  values.set(inputs[0].name, { kind: "lin", map: { kind: "identity", inputs: size(shape0) }, shape: shape0 });
  const stages: Stage[] = [];

  const where = (node: Node) => `${node.opType} node ${node.name || node.outputs[0]}`;
  const get = (node: Node, i: number): Sym => {
    const v = values.get(node.inputs[i]);
    if (!v) throw new AegisError("BAD_MODEL", `${where(node)} reads ${node.inputs[i]}, which nothing before it produces`);
    return v;
  };
  const constant = (node: Node, i: number): Extract<Sym, { kind: "const" }> => {
    const v = get(node, i);
    if (v.kind !== "const")
      throw new AegisError("UNSUPPORTED", `${where(node)}: input ${i + 1} must be a constant (weights), not a value computed from the input`);
    return v;
  };
  /** Ends the stage that produced `v` (an activation) and starts a new affine one on its output. */
  const close = (v: Sym, node: Node): Extract<Sym, { kind: "lin" }> => {
    if (v.kind === "lin") return v;
    if (v.kind === "const" || v.kind === "out") throw new AegisError("UNSUPPORTED", `${where(node)} cannot follow the output activation`);
    stages.push(affineStage(v.map));
    if (v.kind === "poly") {
      if (degreeOf(v.p) < 2)
        throw new AegisError("UNSUPPORTED", `${where(node)}: the polynomial before it has degree ${degreeOf(v.p)}; activations need degree 2 to 4`);
      if (degreeOf(v.p) > 4)
        throw new AegisError("UNSUPPORTED", `${where(node)}: the polynomial before it has degree ${degreeOf(v.p)}; at most 4 is supported`);
      stages.push({ kind: "poly", coefficients: v.p, origin: "polynomial" });
    } else stages.push({ kind: "poly", coefficients: [], origin: v.fn });
    return { kind: "lin", map: { kind: "identity", inputs: size(v.shape) }, shape: v.shape };
  };
  const asPoly = (v: Sym): Polynomial | undefined => (v.kind === "poly" ? v.p : v.kind === "lin" ? [0, 1] : undefined);

  for (const node of graph.nodes) {
    const set = (v: Sym) => values.set(node.outputs[0], v);
    switch (node.opType) {
      case "Constant": {
        const value = node.attributes.value;
        if (value?.type === "tensor") set(constOf(value.value));
        else if (node.attributes.value_float?.type === "float") set({ kind: "const", dims: [], data: Float64Array.of(node.attributes.value_float.value) });
        else throw new AegisError("UNSUPPORTED", `${where(node)}: only tensor and float constants are supported`);
        break;
      }
      case "Identity":
      case "Dropout":
        set(get(node, 0));
        break;
      case "Flatten":
      case "Reshape": {
        const v = get(node, 0);
        if (v.kind === "const") throw new AegisError("UNSUPPORTED", `${where(node)} reshapes a constant; fold it into the weights first`);
        let shape = [size(v.shape)];
        if (node.opType === "Flatten" && getInt(node, "axis", 1) !== 1)
          throw new AegisError("UNSUPPORTED", `${where(node)}: only axis 1 keeps the batch apart`);
        if (node.opType === "Reshape") shape = reshapeTarget(constant(node, 1).data, v.shape, where(node));
        set({ ...v, shape });
        break;
      }
      case "Gemm":
      case "MatMul": {
        const x = close(get(node, 0), node);
        if (x.shape.length !== 1) throw new AegisError("UNSUPPORTED", `${where(node)} multiplies a value of shape [${x.shape}]; flatten it first`);
        const b = constant(node, 1);
        const n = x.shape[0];
        const transB = node.opType === "Gemm" && getInt(node, "transB", 0) === 1;
        if (node.opType === "Gemm" && getInt(node, "transA", 0) !== 0) throw new AegisError("UNSUPPORTED", `${where(node)}: transA is not supported`);
        const alpha = node.opType === "Gemm" ? getFloat(node, "alpha", 1) : 1;
        const beta = node.opType === "Gemm" ? getFloat(node, "beta", 1) : 1;
        if (b.dims.length !== 2 || b.dims[transB ? 1 : 0] !== n)
          throw new AegisError("SHAPE_MISMATCH", `${where(node)}: weights of shape [${b.dims}] do not take ${n} inputs`);
        const m = b.dims[transB ? 0 : 1];
        const matrix = new Float64Array(m * n);
        for (let o = 0; o < m; o++) for (let i = 0; i < n; i++) matrix[o * n + i] = alpha * (transB ? b.data[o * n + i] : b.data[i * m + o]);
        const bias = node.inputs[2] ? broadcast(constant(node, 2), [m], where(node)).map((v) => v * beta) : new Float64Array(m);
        set({ kind: "lin", map: linear(x.map, matrix, bias), shape: [m] });
        break;
      }
      case "Conv": {
        const x = close(get(node, 0), node);
        const w = constant(node, 1);
        const conv = convShape(node, x.shape, w.dims);
        const bias = node.inputs[2] ? constant(node, 2).data : new Float64Array(conv.outChannels);
        set({ kind: "lin", map: convolve(x.map, conv, w.data, bias), shape: [conv.outChannels, conv.outHeight, conv.outWidth] });
        break;
      }
      case "AveragePool":
      case "GlobalAveragePool": {
        const x = close(get(node, 0), node);
        const { matrix, shape } = averagePool(node, x.shape);
        set({ kind: "lin", map: linear(x.map, matrix, new Float64Array(size(shape))), shape });
        break;
      }
      case "BatchNormalization": {
        const x = close(get(node, 0), node);
        const [scale, shift, mean, variance] = [1, 2, 3, 4].map((i) => constant(node, i).data);
        const eps = getFloat(node, "epsilon", 1e-5);
        const per = size(x.shape.slice(1));
        const a = Float64Array.from({ length: size(x.shape) }, (_, i) => scale[Math.floor(i / per)] / Math.sqrt(variance[Math.floor(i / per)] + eps));
        const c = Float64Array.from(a, (ai, i) => shift[Math.floor(i / per)] - mean[Math.floor(i / per)] * ai);
        set({ kind: "lin", map: elementwise(x.map, a, c), shape: x.shape });
        break;
      }
      case "Add":
      case "Sub":
      case "Mul":
      case "Div": {
        let [a, b] = [get(node, 0), get(node, 1)];
        const op = node.opType;
        if (a.kind === "const" && b.kind === "const") {
          set(constantArithmetic(op, a, b, where(node)));
          break;
        }
        if (a.kind === "const" && op === "Div") throw new AegisError("UNSUPPORTED", `${where(node)} divides by a value computed from the input`);
        let negateOther = false;
        if (a.kind === "const") {
          [a, b] = [b, a];
          negateOther = op === "Sub";
        }
        if (b.kind === "const") {
          set(withConstant(op, a, b, negateOther, node, close));
          break;
        }
        const [pa, pb] = [asPoly(a), asPoly(b)];
        if (op === "Div" || !pa || !pb || (a as { map: AffineMap }).map !== (b as { map: AffineMap }).map)
          throw new AegisError(
            "UNSUPPORTED",
            `${where(node)} combines two different values; only polynomials of one layer's output (e.g. Mul(x, x)) are supported`,
          );
        const p = op === "Mul" ? mulPoly(pa, pb) : addPoly(pa, op === "Sub" ? scalePoly(pb, -1) : pb);
        set({ kind: "poly", map: (a as { map: AffineMap }).map, shape: (a as { shape: number[] }).shape, p });
        break;
      }
      case "Neg": {
        const a = get(node, 0);
        set(withConstant("Mul", a, { kind: "const", dims: [], data: Float64Array.of(-1) }, false, node, close));
        break;
      }
      case "Pow": {
        const a = get(node, 0);
        const e = constant(node, 1).data;
        if (e.length !== 1 || !Number.isInteger(e[0]) || e[0] < 1 || e[0] > 4)
          throw new AegisError("UNSUPPORTED", `${where(node)}: only integer exponents 1 to 4 are supported`);
        const v = a.kind === "poly" || a.kind === "lin" ? a : close(a, node);
        const base = asPoly(v) ?? [0, 1];
        let p: Polynomial = [1];
        for (let i = 0; i < e[0]; i++) p = mulPoly(p, base);
        set({ kind: "poly", map: v.map, shape: v.shape, p });
        break;
      }
      case "Relu":
      case "Sigmoid":
      case "Tanh": {
        const x = close(get(node, 0), node);
        const fn = node.opType.toLowerCase() as FittedActivation;
        if (fn === "sigmoid" && isFinal(model, node.outputs[0])) set({ kind: "out", map: x.map, shape: x.shape, transform: "sigmoid" });
        else set({ kind: "act", map: x.map, shape: x.shape, fn });
        break;
      }
      case "Softmax":
      case "LogSoftmax": {
        if (!isFinal(model, node.outputs[0]))
          throw new AegisError("UNSUPPORTED", `${where(node)} is not the last op; only a final softmax is supported (the client applies it)`);
        const x = close(get(node, 0), node);
        set({ kind: "out", map: x.map, shape: x.shape, transform: "softmax" });
        break;
      }
    }
  }
  const result = values.get(graph.outputs[0].name);
  if (!result || (result.kind !== "lin" && result.kind !== "out"))
    throw new AegisError(
      "UNSUPPORTED",
      "the model must end with a linear layer (optionally followed by Softmax or Sigmoid), so the last activation's scale can be folded into it",
    );
  stages.push(affineStage(result.map));
  return { stages, inputShape: shape0, outputTransform: result.kind === "out" ? result.transform : "none" };
}

function affineStage(map: AffineMap): AffineStage {
  const { weight, bias } = dense(map);
  const stage: AffineStage = { kind: "affine", inputs: map.inputs, outputs: outputsOf(map), weight, bias };
  if (map.kind === "conv") stage.conv = { ...map.conv, kernelWeight: map.kernelWeight };
  return stage;
}

/** Whether `name` reaches the graph's output through Identity nodes only. */
function isFinal(model: Model, name: string): boolean {
  const outputs = new Set(model.graph.outputs.map((o) => o.name));
  let current = name;
  for (;;) {
    if (outputs.has(current)) return true;
    const readers = model.graph.nodes.filter((n) => n.inputs.includes(current));
    if (readers.length !== 1 || readers[0].opType !== "Identity") return false;
    current = readers[0].outputs[0];
  }
}

function withConstant(
  op: string,
  a: Sym,
  c: Extract<Sym, { kind: "const" }>,
  negateA: boolean,
  node: Node,
  close: (v: Sym, node: Node) => Extract<Sym, { kind: "lin" }>,
): Sym {
  const label = `${node.opType} node ${node.name || node.outputs[0]}`;
  if (a.kind === "out") throw new AegisError("UNSUPPORTED", `${label} cannot follow the output activation`);
  if (a.kind === "const") throw new Error("unreachable: two constants are folded before");
  if (a.kind === "poly" && c.data.length === 1 && !negateA) {
    const k = op === "Div" ? 1 / c.data[0] : c.data[0];
    const p = op === "Mul" || op === "Div" ? scalePoly(a.p, k) : addPoly(a.p, [op === "Sub" ? -k : k]);
    return { ...a, p };
  }
  const x = close(a, node);
  const values = broadcast(c, x.shape, label);
  const n = values.length;
  const sign = negateA ? -1 : 1;
  const [scale, shift] =
    op === "Mul"
      ? [values, new Float64Array(n)]
      : op === "Div"
        ? [values.map((v) => 1 / v), new Float64Array(n)]
        : [new Float64Array(n).fill(sign), op === "Sub" && !negateA ? values.map((v) => -v) : values];
  return { kind: "lin", map: elementwise(x.map, scale, shift), shape: x.shape };
}

function constantArithmetic(op: string, a: Extract<Sym, { kind: "const" }>, b: Extract<Sym, { kind: "const" }>, label: string): Sym {
  if (b.data.length !== 1 && a.data.length !== 1 && a.data.length !== b.data.length)
    throw new AegisError("UNSUPPORTED", `${label}: constants of shapes [${a.dims}] and [${b.dims}]`);
  const [long, dims] = a.data.length >= b.data.length ? [a.data.length, a.dims] : [b.data.length, b.dims];
  const at = (v: Float64Array, i: number) => (v.length === 1 ? v[0] : v[i]);
  const f = {
    Add: (x: number, y: number) => x + y,
    Sub: (x: number, y: number) => x - y,
    Mul: (x: number, y: number) => x * y,
    Div: (x: number, y: number) => x / y,
  }[op as "Add"];
  return { kind: "const", dims, data: Float64Array.from({ length: long }, (_, i) => f(at(a.data, i), at(b.data, i))) };
}

function reshapeTarget(target: Float64Array, shape: readonly number[], label: string): number[] {
  const n = size(shape);
  const dims = Array.from(target).slice(1);
  if (target.length < 2 || (target[0] !== -1 && target[0] !== 0 && target[0] !== 1))
    throw new AegisError("UNSUPPORTED", `${label}: the first dimension must stay the batch, not ${target[0]}`);
  const known = dims.filter((d) => d !== -1).reduce((a, b) => a * (b === 0 ? 1 : b), 1);
  const out = dims.map((d, i) => (d === -1 ? n / known : d === 0 ? shape[i] : d));
  if (size(out) !== n || out.some((d) => !Number.isInteger(d))) throw new AegisError("SHAPE_MISMATCH", `${label}: cannot reshape [${shape}] to [${dims}]`);
  return out;
}

function convShape(node: Node, shape: readonly number[], wDims: readonly number[]): ConvShape {
  const label = `Conv node ${node.name || node.outputs[0]}`;
  if (shape.length !== 3 || wDims.length !== 4)
    throw new AegisError("UNSUPPORTED", `${label}: only 2-D convolutions of [channels, height, width] inputs are supported`);
  if (getInt(node, "group", 1) !== 1) throw new AegisError("UNSUPPORTED", `${label}: grouped convolutions are not supported`);
  const dilations = getInts(node, "dilations") ?? [1, 1];
  if (dilations.some((d) => d !== 1)) throw new AegisError("UNSUPPORTED", `${label}: dilations are not supported`);
  const autoPad = node.attributes.auto_pad;
  if (autoPad && autoPad.type === "string" && autoPad.value !== "NOTSET") throw new AegisError("UNSUPPORTED", `${label}: auto_pad is not supported; give pads`);
  const [c, h, w] = shape;
  const [outC, inC, kh, kw] = wDims;
  if (inC !== c) throw new AegisError("SHAPE_MISMATCH", `${label}: kernels for ${inC} channels on an input of ${c}`);
  const stride = (getInts(node, "strides") ?? [1, 1]) as [number, number];
  const pads = (getInts(node, "pads") ?? [0, 0, 0, 0]) as [number, number, number, number];
  const outHeight = Math.floor((h + pads[0] + pads[2] - kh) / stride[0]) + 1;
  const outWidth = Math.floor((w + pads[1] + pads[3] - kw) / stride[1]) + 1;
  return { inChannels: c, height: h, width: w, outChannels: outC, kernel: [kh, kw], stride, pads, outHeight, outWidth };
}

function averagePool(node: Node, shape: readonly number[]): { matrix: Float64Array; shape: number[] } {
  const label = `${node.opType} node ${node.name || node.outputs[0]}`;
  if (shape.length !== 3) throw new AegisError("UNSUPPORTED", `${label}: only 2-D pooling of [channels, height, width] is supported`);
  const [c, h, w] = shape;
  const global = node.opType === "GlobalAveragePool";
  const [kh, kw] = global ? [h, w] : (getInts(node, "kernel_shape") as [number, number]);
  const [sh, sw] = global ? [1, 1] : ((getInts(node, "strides") ?? [1, 1]) as [number, number]);
  if (!global && (getInts(node, "pads") ?? [0, 0, 0, 0]).some((p) => p !== 0)) throw new AegisError("UNSUPPORTED", `${label}: padded pooling is not supported`);
  const oh = Math.floor((h - kh) / sh) + 1;
  const ow = Math.floor((w - kw) / sw) + 1;
  const inputs = c * h * w;
  const matrix = new Float64Array(c * oh * ow * inputs);
  for (let ch = 0; ch < c; ch++)
    for (let y = 0; y < oh; y++)
      for (let x = 0; x < ow; x++) {
        const row = (ch * oh + y) * ow + x;
        for (let dy = 0; dy < kh; dy++) for (let dx = 0; dx < kw; dx++) matrix[row * inputs + (ch * h + y * sh + dy) * w + x * sw + dx] = 1 / (kh * kw);
      }
  return { matrix, shape: global ? [c, 1, 1] : [c, oh, ow] };
}
