/**
 * A summary of an ONNX model: interface, operator sets, op histogram, parameter count
 * and whether Aegis can differentiate it (and if not, which nodes stop it).
 */
import { type NonDifferentiableNode, nonDifferentiableNodes } from "../autodiff/gradient.js";
import { DataType, type Dim, dataTypeName, getInt, type Model, parameterCount } from "../onnx/ir.js";

export interface ValueSummary {
  name: string;
  type: string;
  shape: Dim[] | null;
}

export interface ModelSummary {
  producer: string;
  irVersion: number;
  opsets: Record<string, number>;
  inputs: ValueSummary[];
  outputs: ValueSummary[];
  nodes: number;
  ops: Record<string, number>;
  parameters: number;
  /** True when every node between the data input and the outputs has a gradient rule. */
  differentiable: boolean;
  nonDifferentiable: NonDifferentiableNode[];
}

/** Outputs that are integer or boolean whatever the input (so no gradient flows through them). */
function integerOutputs(model: Model): Set<string> {
  const ints = new Set<string>();
  const intTypes = new Set([DataType.INT64, DataType.INT32, DataType.INT16, DataType.INT8, DataType.UINT8, DataType.BOOL, DataType.STRING]);
  for (const n of model.graph.nodes) {
    if (n.opType === "Cast" && intTypes.has(getInt(n, "to", 0))) ints.add(n.outputs[0]);
    if ((n.opType === "MaxPool" || n.opType === "TopK") && n.outputs[1]) ints.add(n.outputs[1]);
    if (n.opType === "Dropout" && n.outputs[1]) ints.add(n.outputs[1]);
  }
  for (const t of model.graph.initializers) if (intTypes.has(t.dataType)) ints.add(t.name);
  return ints;
}

export function summarizeModel(model: Model): ModelSummary {
  const g = model.graph;
  const initializerNames = new Set(g.initializers.map((t) => t.name));
  const summarize = (v: { name: string; elemType: DataType; shape?: Dim[] }): ValueSummary => ({
    name: v.name,
    type: v.elemType === DataType.UNDEFINED ? "non-tensor" : dataTypeName(v.elemType),
    shape: v.shape ?? null,
  });
  const dataInputs = g.inputs.filter((i) => !initializerNames.has(i.name));
  const ops: Record<string, number> = {};
  for (const n of g.nodes) {
    const key = n.domain && n.domain !== "ai.onnx" ? `${n.domain}.${n.opType}` : n.opType;
    ops[key] = (ops[key] ?? 0) + 1;
  }
  const ints = integerOutputs(model);
  const floatInputs = dataInputs.filter((i) => i.elemType === DataType.FLOAT || i.elemType === DataType.DOUBLE).map((i) => i.name);
  const missing = floatInputs.length > 0 ? nonDifferentiableNodes(model, floatInputs, (v) => !ints.has(v)) : [];
  return {
    producer: [model.producerName, model.producerVersion].filter(Boolean).join(" "),
    irVersion: model.irVersion,
    opsets: Object.fromEntries(model.opsetImports.map((o) => [o.domain || "ai.onnx", o.version])),
    inputs: dataInputs.map(summarize),
    outputs: g.outputs.map(summarize),
    nodes: g.nodes.length,
    ops: Object.fromEntries(Object.entries(ops).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))),
    parameters: parameterCount(g),
    differentiable: floatInputs.length > 0 && missing.length === 0,
    nonDifferentiable: missing,
  };
}
