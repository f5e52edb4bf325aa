/**
 * A small in-memory IR for ONNX models: plain objects that are easy to read, rewrite
 * and emit. It keeps what gradient building and inspection need in typed form and
 * carries everything else (sparse tensors, functions, subgraph type protos) through
 * untouched, so a load → save round trip does not lose parts of a user's model.
 */

/** TensorProto.DataType values. */
export enum DataType {
  UNDEFINED = 0,
  FLOAT = 1,
  UINT8 = 2,
  INT8 = 3,
  UINT16 = 4,
  INT16 = 5,
  INT32 = 6,
  INT64 = 7,
  STRING = 8,
  BOOL = 9,
  FLOAT16 = 10,
  DOUBLE = 11,
  UINT32 = 12,
  UINT64 = 13,
  COMPLEX64 = 14,
  COMPLEX128 = 15,
  BFLOAT16 = 16,
}

export type TensorData =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

export interface TensorValue {
  name: string;
  dataType: DataType;
  dims: number[];
  /** Decoded elements; for FLOAT16/BFLOAT16 the raw 16-bit words; empty for strings. */
  data: TensorData;
  /** STRING tensors only. */
  strings?: Uint8Array[];
}

/** One dimension of a declared shape: a size, a symbolic name, or unknown. */
export type Dim = number | string | undefined;

export interface ValueInfo {
  name: string;
  /** Element type of a tensor value; UNDEFINED for sequences, maps and optionals. */
  elemType: DataType;
  /** Undefined when the shape is not declared at all (rank unknown). */
  shape?: Dim[];
  docString?: string;
  /** The original TypeProto for non-tensor types, carried through on save. */
  rawType?: unknown;
}

export type Attribute =
  | { type: "float"; value: number }
  | { type: "int"; value: number }
  | { type: "string"; value: string }
  | { type: "floats"; value: number[] }
  | { type: "ints"; value: number[] }
  | { type: "strings"; value: string[] }
  | { type: "tensor"; value: TensorValue }
  | { type: "tensors"; value: TensorValue[] }
  | { type: "graph"; value: Graph }
  | { type: "graphs"; value: Graph[] }
  /** Anything else (sparse tensors, type protos, references in functions): the raw AttributeProto. */
  | { type: "raw"; value: unknown };

export interface Node {
  name: string;
  opType: string;
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, Attribute>;
  docString?: string;
}

export interface Graph {
  name: string;
  nodes: Node[];
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  initializers: TensorValue[];
  valueInfo: ValueInfo[];
  docString?: string;
  /** Raw protobuf parts this IR does not model. */
  sparseInitializers?: unknown[];
  quantizationAnnotation?: unknown[];
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion: string;
  domain: string;
  modelVersion: number;
  docString: string;
  graph: Graph;
  metadata: { key: string; value: string }[];
  /** Model-local functions, raw FunctionProto objects. */
  functions: unknown[];
}

/** The version of the default (ai.onnx) operator set the model imports. */
export function defaultOpset(model: Model): number {
  const entry = model.opsetImports.find((o) => o.domain === "" || o.domain === "ai.onnx");
  return entry?.version ?? 0;
}

export const attr = {
  float: (value: number): Attribute => ({ type: "float", value }),
  int: (value: number): Attribute => ({ type: "int", value }),
  string: (value: string): Attribute => ({ type: "string", value }),
  floats: (value: number[]): Attribute => ({ type: "floats", value }),
  ints: (value: number[]): Attribute => ({ type: "ints", value }),
  strings: (value: string[]): Attribute => ({ type: "strings", value }),
  tensor: (value: TensorValue): Attribute => ({ type: "tensor", value }),
};

export function getInt(node: Node, name: string, fallback: number): number {
  const a = node.attributes[name];
  return a?.type === "int" ? a.value : fallback;
}

export function getFloat(node: Node, name: string, fallback: number): number {
  const a = node.attributes[name];
  return a?.type === "float" ? a.value : a?.type === "int" ? a.value : fallback;
}

export function getInts(node: Node, name: string): number[] | undefined {
  const a = node.attributes[name];
  return a?.type === "ints" ? a.value : undefined;
}

export function getString(node: Node, name: string, fallback: string): string {
  const a = node.attributes[name];
  return a?.type === "string" ? a.value : fallback;
}

/** Number of parameters (elements of floating-point initializers). */
export function parameterCount(graph: Graph): number {
  let n = 0;
  for (const t of graph.initializers) {
    if (isFloatType(t.dataType)) n += t.dims.reduce((a, b) => a * b, 1);
  }
  return n;
}

export function isFloatType(t: DataType): boolean {
  return t === DataType.FLOAT || t === DataType.DOUBLE || t === DataType.FLOAT16 || t === DataType.BFLOAT16;
}

export function dataTypeName(t: DataType): string {
  return DataType[t]?.toLowerCase() ?? `type${t}`;
}

/** A deep-enough copy to rewrite a model without touching the caller's (tensor data is shared). */
export function cloneModel(model: Model): Model {
  return { ...model, graph: cloneGraph(model.graph), opsetImports: model.opsetImports.map((o) => ({ ...o })) };
}

function cloneGraph(g: Graph): Graph {
  return {
    ...g,
    nodes: g.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attributes: { ...n.attributes } })),
    inputs: g.inputs.map((v) => ({ ...v })),
    outputs: g.outputs.map((v) => ({ ...v })),
    initializers: [...g.initializers],
    valueInfo: g.valueInfo.map((v) => ({ ...v })),
  };
}

/** A model with an empty graph, importing the default operator set at `opset`. */
export function emptyModel(opset: number, name = "graph", producerName = "aegis"): Model {
  return {
    irVersion: 8,
    opsetImports: [{ domain: "", version: opset }],
    producerName,
    producerVersion: "",
    domain: "",
    modelVersion: 0,
    docString: "",
    graph: { name, nodes: [], inputs: [], outputs: [], initializers: [], valueInfo: [] },
    metadata: [],
    functions: [],
  };
}
