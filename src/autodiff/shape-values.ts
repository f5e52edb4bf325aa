/**
 * Which values of a graph are fixed once its input shapes are: constants, the outputs of
 * Shape and Size, and whatever is computed from those alone (Gather, Div, Concat, Range,
 * ConstantOfShape… on shapes). Exporters compute Slice bounds, Reshape targets and Expand
 * shapes this way (torch's `chunk`, `view(x.size(0), -1)`, `expand(b, -1, -1)`); a gradient
 * graph is built for one input shape, so it can take them as constants: the shape probe
 * records their values (engine/probe.ts) and rules read them with `constantNumbers`.
 * A value that depends on the data itself is not fixed; `dataSource` names the node where
 * the data comes in, for the error message.
 */
import type { Graph, Node } from "../onnx/ir.js";

/** Ops whose output does not depend on the values of their input, only on its shape. */
const SHAPE_ONLY = new Set(["Shape", "Size"]);
/** Ops that are not functions of their inputs, or run subgraphs this analysis does not enter. */
const NOT_FIXED = new Set([
  "RandomNormal",
  "RandomUniform",
  "RandomNormalLike",
  "RandomUniformLike",
  "Multinomial",
  "Bernoulli",
  "If",
  "Loop",
  "Scan",
  "SequenceMap",
]);

/** The values of `graph` that are fixed once its input shapes are (initializers included). */
export function shapeDeterminedValues(graph: Graph): Set<string> {
  const fixed = new Set<string>();
  // An initializer that is also a graph input could be fed at run time; exporters that list
  // every initializer among the inputs never do, and the rules have always read them as constants.
  for (const t of graph.initializers) fixed.add(t.name);
  for (const node of graph.nodes) {
    if (!isDefaultDomain(node) || NOT_FIXED.has(node.opType)) continue;
    if (SHAPE_ONLY.has(node.opType) || node.inputs.every((i) => !i || fixed.has(i))) for (const o of node.outputs) if (o) fixed.add(o);
  }
  return fixed;
}

/**
 * The first node on the way from the data to `value` that reads a value the data
 * determines, described for an error message; undefined when `value` is fixed.
 */
export function dataSource(graph: Graph, fixed: ReadonlySet<string>, value: string): string | undefined {
  if (fixed.has(value)) return undefined;
  const producers = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) producers.set(o, n);
  const seen = new Set<string>();
  let current = value;
  while (!seen.has(current)) {
    seen.add(current);
    const node = producers.get(current);
    if (!node) return `the graph input "${current}"`;
    const dynamic = node.inputs.find((i) => i && !fixed.has(i));
    if (!dynamic || !producers.has(dynamic)) return `${node.opType} node "${node.name}"${dynamic ? `, which reads the input "${dynamic}"` : ""}`;
    current = dynamic;
  }
  return undefined;
}

function isDefaultDomain(node: Node): boolean {
  return node.domain === "" || node.domain === "ai.onnx";
}
