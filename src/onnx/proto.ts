/**
 * ONNX protobuf ⇄ IR. protobufjs decodes the wire format with the schema in schema.ts;
 * this file turns its messages into the IR of ir.ts and back.
 */
import { readFileSync } from "node:fs";
import { isAbsolute, join, normalize, relative } from "node:path";
import protobuf from "protobufjs";
import { AegisError } from "../errors.js";
import { type Attribute, DataType, type Dim, type Graph, type Model, type Node, type TensorData, type TensorValue, type ValueInfo } from "./ir.js";
import { ONNX_PROTO } from "./schema.js";

const root = protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
const ModelProto = root.lookupType("onnx.ModelProto");

// biome-ignore lint/suspicious/noExplicitAny: protobufjs messages are untyped objects
type Msg = any;

function num(v: unknown): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === "number") return v;
  if (typeof v === "object" && v !== null && "toNumber" in v) return (v as { toNumber(): number }).toNumber();
  return Number(v);
}

const utf8 = new TextDecoder();
const utf8Encoder = new TextEncoder();

export interface DecodeOptions {
  /** Folder that external-data paths are relative to; external data is refused without it. */
  baseDir?: string;
}

export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): Model {
  let m: Msg;
  try {
    m = ModelProto.decode(bytes);
  } catch (e) {
    throw new AegisError(
      "BAD_MODEL",
      `not a readable ONNX model (${(e as Error).message}); the file may be truncated or another format — export it again with torch.onnx.export, tf2onnx or skl2onnx`,
      { cause: e },
    );
  }
  if (!m.graph || num(m.ir_version) === 0 || !m.opset_import?.length) {
    throw new AegisError("BAD_MODEL", "the file decodes but holds no ONNX graph (no ir_version, opset or graph); is it really an .onnx model?");
  }
  return {
    irVersion: num(m.ir_version),
    opsetImports: (m.opset_import as Msg[]).map((o) => ({ domain: o.domain ?? "", version: num(o.version) })),
    producerName: m.producer_name ?? "",
    producerVersion: m.producer_version ?? "",
    domain: m.domain ?? "",
    modelVersion: num(m.model_version),
    docString: m.doc_string ?? "",
    graph: graphFromProto(m.graph, options),
    metadata: (m.metadata_props ?? []).map((p: Msg) => ({ key: p.key ?? "", value: p.value ?? "" })),
    functions: m.functions ?? [],
  };
}

function graphFromProto(g: Msg, options: DecodeOptions): Graph {
  return {
    name: g.name ?? "",
    nodes: (g.node ?? []).map((n: Msg) => nodeFromProto(n, options)),
    inputs: (g.input ?? []).map(valueInfoFromProto),
    outputs: (g.output ?? []).map(valueInfoFromProto),
    initializers: (g.initializer ?? []).map((t: Msg) => tensorFromProto(t, options)),
    valueInfo: (g.value_info ?? []).map(valueInfoFromProto),
    docString: g.doc_string || undefined,
    sparseInitializers: g.sparse_initializer?.length ? g.sparse_initializer : undefined,
    quantizationAnnotation: g.quantization_annotation?.length ? g.quantization_annotation : undefined,
  };
}

function nodeFromProto(n: Msg, options: DecodeOptions): Node {
  const attributes: Record<string, Attribute> = {};
  for (const a of n.attribute ?? []) attributes[a.name] = attributeFromProto(a, options);
  return {
    name: n.name ?? "",
    opType: n.op_type ?? "",
    domain: n.domain ?? "",
    inputs: [...(n.input ?? [])],
    outputs: [...(n.output ?? [])],
    attributes,
    docString: n.doc_string || undefined,
  };
}

const AT = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 };

function attributeFromProto(a: Msg, options: DecodeOptions): Attribute {
  if (a.ref_attr_name) return { type: "raw", value: a };
  switch (a.type ?? 0) {
    case AT.FLOAT:
      return { type: "float", value: a.f ?? 0 };
    case AT.INT:
      return { type: "int", value: num(a.i) };
    case AT.STRING:
      return { type: "string", value: utf8.decode(a.s ?? new Uint8Array()) };
    case AT.TENSOR:
      return { type: "tensor", value: tensorFromProto(a.t ?? missing(a, "tensor"), options) };
    case AT.GRAPH:
      return { type: "graph", value: graphFromProto(a.g ?? missing(a, "graph"), options) };
    case AT.FLOATS:
      return { type: "floats", value: [...(a.floats ?? [])] };
    case AT.INTS:
      return { type: "ints", value: (a.ints ?? []).map(num) };
    case AT.STRINGS:
      return { type: "strings", value: (a.strings ?? []).map((s: Uint8Array) => utf8.decode(s)) };
    case AT.TENSORS:
      return { type: "tensors", value: (a.tensors ?? []).map((t: Msg) => tensorFromProto(t, options)) };
    case AT.GRAPHS:
      return { type: "graphs", value: (a.graphs ?? []).map((g: Msg) => graphFromProto(g, options)) };
    default:
      return { type: "raw", value: a };
  }
}

function missing(a: Msg, what: string): never {
  throw new AegisError("BAD_MODEL", `attribute ${a.name ?? ""} is of type ${what.toUpperCase()} but holds no ${what}; the model is damaged or crafted`);
}

function valueInfoFromProto(v: Msg): ValueInfo {
  const tensorType = v.type?.tensor_type;
  if (!tensorType) return { name: v.name ?? "", elemType: DataType.UNDEFINED, rawType: v.type, docString: v.doc_string || undefined };
  const shape: Dim[] | undefined = tensorType.shape
    ? (tensorType.shape.dim ?? []).map(
        (d: Msg): Dim => (d.dim_param ? d.dim_param : d.dim_value !== undefined && d.dim_value !== null ? num(d.dim_value) : undefined),
      )
    : undefined;
  return { name: v.name ?? "", elemType: tensorType.elem_type ?? 0, shape, docString: v.doc_string || undefined };
}

const BYTES_PER_ELEMENT: Partial<Record<DataType, number>> = {
  [DataType.FLOAT]: 4,
  [DataType.DOUBLE]: 8,
  [DataType.INT64]: 8,
  [DataType.UINT64]: 8,
  [DataType.INT32]: 4,
  [DataType.UINT32]: 4,
  [DataType.INT16]: 2,
  [DataType.UINT16]: 2,
  [DataType.FLOAT16]: 2,
  [DataType.BFLOAT16]: 2,
  [DataType.INT8]: 1,
  [DataType.UINT8]: 1,
  [DataType.BOOL]: 1,
};

/** A typed array of `count` elements of `type`, copied out of little-endian bytes. */
export function typedArrayFromBytes(type: DataType, bytes: Uint8Array): TensorData {
  const width = BYTES_PER_ELEMENT[type];
  if (!width) throw new AegisError("UNSUPPORTED", `tensor data type ${DataType[type] ?? type} is not supported`);
  if (bytes.byteLength % width !== 0) throw new AegisError("BAD_MODEL", `tensor bytes (${bytes.byteLength}) are not a multiple of ${width}`);
  const copy = new Uint8Array(bytes); // aligned copy
  const buf = copy.buffer;
  switch (type) {
    case DataType.FLOAT:
      return new Float32Array(buf);
    case DataType.DOUBLE:
      return new Float64Array(buf);
    case DataType.INT64:
      return new BigInt64Array(buf);
    case DataType.UINT64:
      return new BigUint64Array(buf);
    case DataType.INT32:
      return new Int32Array(buf);
    case DataType.UINT32:
      return new Uint32Array(buf);
    case DataType.INT16:
      return new Int16Array(buf);
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return new Uint16Array(buf);
    case DataType.INT8:
      return new Int8Array(buf);
    default:
      return copy;
  }
}

/** Elements a tensor without stored values may stand for (zeros); 16 M, far above any real use. */
const MAX_ZERO_FILLED = 1 << 24;

function tensorFromProto(t: Msg, options: DecodeOptions): TensorValue {
  const dataType: DataType = t.data_type ?? 0;
  const dims: number[] = (t.dims ?? []).map(num);
  const base = { name: t.name ?? "", dataType, dims };
  if (dataType === DataType.STRING) return { ...base, data: new Uint8Array(), strings: t.string_data ?? [] };
  if (t.data_location === 1) return { ...base, data: typedArrayFromBytes(dataType, readExternal(t, options)) };
  if (t.raw_data && t.raw_data.length > 0) return { ...base, data: typedArrayFromBytes(dataType, t.raw_data) };
  const count = dims.reduce((a, b) => a * b, 1);
  switch (dataType) {
    case DataType.FLOAT:
      return { ...base, data: Float32Array.from(t.float_data ?? []) };
    case DataType.DOUBLE:
      return { ...base, data: Float64Array.from(t.double_data ?? []) };
    case DataType.INT64:
      return { ...base, data: BigInt64Array.from((t.int64_data ?? []).map((v: unknown) => BigInt(num(v)))) };
    case DataType.UINT64:
    case DataType.UINT32:
      return { ...base, data: typedFromNumbers(dataType, (t.uint64_data ?? []).map(num)) };
    default: {
      // int32_data carries every type of 32 bits or fewer, one element per entry.
      const values: number[] = (t.int32_data ?? []).map(num);
      if (values.length === 0 && count > 0) {
        // No values stored reads as zeros; a few bytes must not make us allocate gigabytes of them.
        if (count > MAX_ZERO_FILLED) {
          throw new AegisError("BAD_MODEL", `tensor ${base.name} has dims [${dims.join(", ")}] but stores no values; the model is damaged or crafted`);
        }
        return { ...base, data: typedFromNumbers(dataType, new Array(count).fill(0)) };
      }
      return { ...base, data: typedFromNumbers(dataType, values) };
    }
  }
}

function typedFromNumbers(type: DataType, values: number[]): TensorData {
  switch (type) {
    case DataType.INT32:
      return Int32Array.from(values);
    case DataType.UINT32:
      return Uint32Array.from(values);
    case DataType.UINT64:
      return BigUint64Array.from(values.map((v) => BigInt(v)));
    case DataType.INT16:
      return Int16Array.from(values);
    case DataType.UINT16:
    case DataType.FLOAT16:
    case DataType.BFLOAT16:
      return Uint16Array.from(values);
    case DataType.INT8:
      return Int8Array.from(values);
    case DataType.UINT8:
    case DataType.BOOL:
      return Uint8Array.from(values);
    default:
      throw new AegisError("UNSUPPORTED", `tensor data type ${DataType[type] ?? type} is not supported`);
  }
}

function readExternal(t: Msg, options: DecodeOptions): Uint8Array {
  const entries = new Map<string, string>((t.external_data ?? []).map((e: Msg) => [e.key, e.value]));
  const location = entries.get("location");
  if (!location) throw new AegisError("BAD_MODEL", `tensor ${t.name} says its data is external but names no location`);
  if (!options.baseDir) throw new AegisError("BAD_MODEL", `tensor ${t.name} keeps its data in an external file; load the model from a path, not from bytes`);
  // External data must stay inside the model's folder: a path that leaves it is refused.
  const path = normalize(join(options.baseDir, location));
  const rel = relative(options.baseDir, path);
  if (isAbsolute(location) || rel.startsWith("..")) {
    throw new AegisError("BAD_MODEL", `tensor ${t.name} points at external data outside the model's folder (${location}); refusing to read it`);
  }
  let file: Buffer;
  try {
    file = readFileSync(path);
  } catch {
    throw new AegisError("FILE_NOT_FOUND", `external data file ${location} of tensor ${t.name} was not found next to the model`);
  }
  const offset = Number(entries.get("offset") ?? 0);
  const length = entries.has("length") ? Number(entries.get("length")) : file.byteLength - offset;
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new AegisError(
      "BAD_MODEL",
      `external data of tensor ${t.name} has offset "${entries.get("offset")}" and length "${entries.get("length")}"; both must be byte counts`,
    );
  }
  if (offset + length > file.byteLength) throw new AegisError("BAD_MODEL", `external data of tensor ${t.name} runs past the end of ${location}`);
  return file.subarray(offset, offset + length);
}

// ---------------------------------------------------------------- encoding

export function encodeModel(model: Model): Uint8Array {
  const message = {
    ir_version: model.irVersion,
    opset_import: model.opsetImports.map((o) => ({ domain: o.domain, version: o.version })),
    producer_name: model.producerName,
    producer_version: model.producerVersion,
    domain: model.domain,
    model_version: model.modelVersion,
    doc_string: model.docString,
    graph: graphToProto(model.graph),
    metadata_props: model.metadata,
    functions: model.functions,
  };
  return ModelProto.encode(message).finish();
}

function graphToProto(g: Graph): Msg {
  return {
    name: g.name,
    node: g.nodes.map(nodeToProto),
    input: g.inputs.map(valueInfoToProto),
    output: g.outputs.map(valueInfoToProto),
    initializer: g.initializers.map(tensorToProto),
    value_info: g.valueInfo.map(valueInfoToProto),
    doc_string: g.docString,
    sparse_initializer: g.sparseInitializers ?? [],
    quantization_annotation: g.quantizationAnnotation ?? [],
  };
}

function nodeToProto(n: Node): Msg {
  return {
    name: n.name,
    op_type: n.opType,
    domain: n.domain,
    input: n.inputs,
    output: n.outputs,
    attribute: Object.entries(n.attributes).map(([name, a]) => attributeToProto(name, a)),
    doc_string: n.docString,
  };
}

function attributeToProto(name: string, a: Attribute): Msg {
  switch (a.type) {
    case "float":
      return { name, type: AT.FLOAT, f: a.value };
    case "int":
      return { name, type: AT.INT, i: a.value };
    case "string":
      return { name, type: AT.STRING, s: utf8Encoder.encode(a.value) };
    case "floats":
      return { name, type: AT.FLOATS, floats: a.value };
    case "ints":
      return { name, type: AT.INTS, ints: a.value };
    case "strings":
      return { name, type: AT.STRINGS, strings: a.value.map((s) => utf8Encoder.encode(s)) };
    case "tensor":
      return { name, type: AT.TENSOR, t: tensorToProto(a.value) };
    case "tensors":
      return { name, type: AT.TENSORS, tensors: a.value.map(tensorToProto) };
    case "graph":
      return { name, type: AT.GRAPH, g: graphToProto(a.value) };
    case "graphs":
      return { name, type: AT.GRAPHS, graphs: a.value.map(graphToProto) };
    case "raw":
      return a.value;
  }
}

function valueInfoToProto(v: ValueInfo): Msg {
  // An output of unknown type is written without a type, for the runtime to infer.
  if (!v.rawType && v.elemType === DataType.UNDEFINED) return { name: v.name, doc_string: v.docString };
  const type =
    v.rawType ??
    ({
      tensor_type: {
        elem_type: v.elemType,
        shape: v.shape ? { dim: v.shape.map((d) => (typeof d === "number" ? { dim_value: d } : typeof d === "string" ? { dim_param: d } : {})) } : undefined,
      },
    } as Msg);
  return { name: v.name, type, doc_string: v.docString };
}

function tensorToProto(t: TensorValue): Msg {
  if (t.dataType === DataType.STRING) return { name: t.name, data_type: t.dataType, dims: t.dims, string_data: t.strings ?? [] };
  const raw = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { name: t.name, data_type: t.dataType, dims: t.dims, raw_data: raw };
}
