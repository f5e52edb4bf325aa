/**
 * Builds gradient graphs: appends to a forward graph the backward nodes that carry
 * seeds (∂L/∂output) back to the requested values (inputs and/or parameters), using
 * one VJP rule per op. ONNX Runtime then returns outputs and gradients in one run.
 *
 * Shapes are static: the caller supplies the shape and type of every value from a probe
 * run of the forward graph at the input shape it will use (see engine/probe.ts), so
 * rules can compute broadcast axes, output paddings and reshape targets up front.
 */
import { AegisError } from "../errors.js";
import { GraphBuilder } from "../onnx/builder.js";
import { DataType, defaultOpset, isFloatType, type Model, type Node } from "../onnx/ir.js";
import { unbroadcast } from "./broadcast.js";
import { NO_GRADIENT_OPS, RULES } from "./registry.js";
import { NoGradientError, type ValueShape, type VjpContext, type VjpRule } from "./rule.js";
import { dataSource, shapeDeterminedValues } from "./shape-values.js";

export interface GradientRequest {
  /** Pairs (forward value, value holding ∂L/∂value) that start the backward pass. */
  seeds: { value: string; seed: string }[];
  /** Values to differentiate with respect to: graph inputs or initializers. */
  wrt: string[];
  /** Static shape and type of every value of the forward graph. */
  shapes: ReadonlyMap<string, ValueShape>;
  /**
   * Values of `wrt` whose gradient is not summed: each node that consumes one hands its
   * rule and context to `use` instead (per-example gradients build their own from them).
   * They get no entry in the result.
   */
  intercept?: { values: ReadonlySet<string>; use(value: string, use: ParameterUse): void };
  /**
   * Where to collect the nodes the gradient cannot pass, instead of throwing: the builder
   * then carries on without their contributions (what `aegis inspect` uses to name them all).
   */
  problems?: GradientProblem[];
}

/** A node on the way from the seeds to `wrt` that the gradient cannot pass, and why. */
export interface GradientProblem {
  name: string;
  opType: string;
  domain: string;
  reason: string;
}

/** One node's use of an intercepted value: the node's rule, its context and the input's position. */
export interface ParameterUse {
  rule: VjpRule;
  ctx: VjpContext;
  input: number;
}

function isDefaultDomain(node: Node): boolean {
  return node.domain === "" || node.domain === "ai.onnx";
}

/**
 * Appends backward nodes to `model` (mutated in place) and returns, for each value in
 * `wrt`, the name of the value holding its gradient. Values in `wrt` that the loss does
 * not depend on get zeros.
 */
export function appendGradients(model: Model, request: GradientRequest): Map<string, string> {
  const { shapes } = request;
  const graph = model.graph;
  const forwardNodes = [...graph.nodes];
  const b = new GraphBuilder(graph, defaultOpset(model), "grad");

  const shapeOf = (value: string): ValueShape => {
    const s = shapes.get(value);
    if (!s) throw new Error(`gradient builder: no probed shape for value "${value}"`);
    return s;
  };
  const isFloat = (value: string) => {
    const s = shapes.get(value);
    return s !== undefined && isFloatType(s.dataType);
  };

  // Forward: which values depend differentiably on a wrt value.
  const requires = new Set(request.wrt);
  const missing: Node[] = [];
  for (const node of forwardNodes) {
    if (!node.inputs.some((i) => requires.has(i))) continue;
    if (isDefaultDomain(node) && NO_GRADIENT_OPS.has(node.opType)) continue;
    const floatOutputs = node.outputs.filter((o) => o && isFloat(o));
    if (floatOutputs.length === 0) continue;
    if (!isDefaultDomain(node) || !RULES.has(node.opType)) missing.push(node);
    for (const o of floatOutputs) requires.add(o);
  }

  // Backward: which of those values lead to a seed.
  const needed = new Set<string>(request.seeds.map((s) => s.value).filter((v) => requires.has(v)));
  const neededNodes: Node[] = [];
  for (let i = forwardNodes.length - 1; i >= 0; i--) {
    const node = forwardNodes[i];
    if (!node.outputs.some((o) => needed.has(o))) continue;
    const differentiableInputs = node.inputs.filter((inp) => requires.has(inp));
    if (differentiableInputs.length === 0) continue;
    neededNodes.push(node);
    for (const inp of differentiableInputs) needed.add(inp);
  }
  const problems: GradientProblem[] = [];
  const blocked = (node: Node, reason: string) => problems.push({ name: node.name, opType: node.opType, domain: node.domain, reason });
  for (const n of missing) {
    if (neededNodes.includes(n)) blocked(n, isDefaultDomain(n) ? `no gradient rule for ${n.opType}` : `an op of the ${n.domain} domain`);
  }

  // Accumulated gradient contributions per value.
  const contributions = new Map<string, string[]>();
  const addContribution = (value: string, grad: string) => {
    const list = contributions.get(value);
    if (list) list.push(grad);
    else contributions.set(value, [grad]);
  };
  const total = (value: string): string | undefined => {
    const list = contributions.get(value);
    if (!list || list.length === 0) return undefined;
    if (list.length === 1) return list[0];
    const sum = b.op("Sum", list);
    contributions.set(value, [sum]);
    return sum;
  };
  for (const s of request.seeds) if (needed.has(s.value)) addContribution(s.value, s.seed);

  const ctxShape = (value: string) => shapeOf(value).dims;
  const ctxType = (value: string) => shapeOf(value).dataType;
  const fixed = shapeDeterminedValues({ ...graph, nodes: forwardNodes });
  const ctxFixedValue = (value: string) => (fixed.has(value) ? shapes.get(value)?.value : undefined);
  const ctxDataSource = (value: string) => dataSource({ ...graph, nodes: forwardNodes }, fixed, value);
  for (const node of neededNodes) {
    const dy = node.outputs.map((o) => (o ? total(o) : undefined));
    if (dy.every((g) => g === undefined)) continue;
    const rule = RULES.get(node.opType);
    if (!rule || !isDefaultDomain(node)) continue;
    const ctx: VjpContext = {
      node,
      b,
      dy,
      shape: ctxShape,
      dataType: ctxType,
      unbroadcast: (grad, operand) => unbroadcast(b, grad, ctxShape(operand), broadcastShape(node, ctxShape)),
      fixedValue: ctxFixedValue,
      dataSource: ctxDataSource,
    };
    try {
      const thunks = rule.grad(ctx);
      node.inputs.forEach((input, i) => {
        if (!input || !needed.has(input)) return;
        if (request.intercept?.values.has(input)) {
          request.intercept.use(input, { rule, ctx, input: i });
          return;
        }
        const thunk = thunks[i];
        if (!thunk) return;
        addContribution(input, thunk());
      });
    } catch (e) {
      if (!(e instanceof NoGradientError)) throw e;
      blocked(node, e.reason);
    }
  }
  if (problems.length > 0) {
    if (!request.problems) throw notDifferentiable(problems);
    request.problems.push(...problems);
  }

  const result = new Map<string, string>();
  for (const w of request.wrt) {
    if (request.intercept?.values.has(w)) continue;
    const g = total(w);
    result.set(w, g ?? zeros(b, shapeOf(w)));
  }
  return result;
}

/** One error naming every node the gradient cannot pass, with its reason. */
export function notDifferentiable(problems: readonly GradientProblem[]): AegisError {
  const list = problems.map((p) => `${p.domain ? `${p.domain}.` : ""}${p.opType} "${p.name}" (${p.reason})`).join(", ");
  return new AegisError(
    "NOT_DIFFERENTIABLE",
    `the model has no gradient through ${list}; white-box attacks cannot run on it, black-box attacks (which need only predictions) can`,
  );
}

function zeros(b: GraphBuilder, s: ValueShape): string {
  const n = s.dims.reduce((a, c) => a * c, 1);
  const data = s.dataType === DataType.DOUBLE ? new Float64Array(n) : new Float32Array(n);
  return b.initializer(s.dataType === DataType.DOUBLE ? DataType.DOUBLE : DataType.FLOAT, s.dims, data, "zeros");
}

/** The shape all inputs of an elementwise node broadcast to (numpy rules). */
function broadcastShape(node: Node, shapeOf: (v: string) => number[]): number[] {
  const shapes = node.inputs.filter((i) => i).map(shapeOf);
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const j = rank - s.length + i;
      if (s[i] !== 1) out[j] = s[i];
    }
  }
  return out;
}
