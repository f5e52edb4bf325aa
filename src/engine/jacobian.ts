/**
 * Rows of the Jacobian in one run: the gradients with respect to the input of several
 * weighted sums of each sample's outputs, ∇ₓ Σₖ W[r, i, k]·f_k(xᵢ), together with the
 * outputs f(xᵢ). One-hot weights give rows of the Jacobian, e_a − e_b the gradient of an
 * output difference (what DeepFool and FAB linearise), 1 − e_t the sum of all outputs but
 * one (JSMA's saliency map): one backward pass each, where composing them from class
 * gradients takes two or K. A difference can also be taken against the strongest rival of
 * a class at x (the "top-1 difference"), chosen inside the graph, so the caller does not
 * need the outputs before asking.
 *
 * An ONNX classifier answers with one gradient graph over R copies of the batch, so R
 * rows cost one ONNX Runtime run per batch instead of R runs and a prediction. The forward
 * pass runs once, on the batch itself (`shareForward`): the R backward passes read its
 * activations tiled, so R rows cost one forward and R backward passes, where R class
 * gradients cost R of each. Any other model with class gradients is served by
 * `outputGradients` composing them.
 */
import type { ValueShape } from "../autodiff/rule.js";
import { GraphBuilder } from "../onnx/builder.js";
import { type Graph, isFloatType } from "../onnx/ir.js";
import { float32, sizeOf, type Tensor } from "../tensor.js";
import type { ClassGradient, Labels, Predictor } from "./capabilities.js";
import type { Loss } from "./losses.js";

export interface OutputGradientRequest {
  /** W [R, N, K]: row r of sample i is the gradient of Σₖ W[r, i, k]·f_k(xᵢ). */
  weights?: Tensor<"float32">;
  /** One row per sample: the gradient of f_rival(xᵢ) − f_t(xᵢ), rival the largest output other than t = rivalOf[i] at xᵢ. */
  rivalOf?: Labels;
}

export interface OutputGradientResult {
  /** The model's outputs at x [N, K] (logits or probabilities, as `predict`). */
  output: Tensor<"float32">;
  /** [R, N, ...sample]: row r of every sample, then the next row. */
  gradients: Tensor<"float32">;
}

export interface OutputGradients {
  outputGradients(x: Tensor<"float32">, request: OutputGradientRequest): Promise<OutputGradientResult>;
}

export function hasOutputGradients(m: object): m is OutputGradients {
  return typeof (m as Partial<OutputGradients>).outputGradients === "function";
}

/**
 * f_rival − f_t per sample, the targets holding onehot(t); the maximum's gradient routes to
 * the rival, so the backward pass gives ∇f_rival − ∇f_t.
 */
export const rivalDifference: Loss = {
  name: "rival-difference",
  build(b: GraphBuilder, { output, targets }) {
    const own = b.reduceSum(b.op("Mul", [output, targets]), [1], false);
    const others = b.op("Sub", [output, b.op("Mul", [targets, b.scalar(1e9)])]);
    return b.op("Sub", [b.reduceMax(others, [1], false), own]);
  },
};

/** The number of rows a request asks for. */
export function requestRows(request: OutputGradientRequest, n: number): number {
  if (request.rivalOf) return 1;
  const w = request.weights;
  if (w?.shape.length !== 3 || w.shape[1] !== n) throw new RangeError(`output-gradient weights must be [R, ${n}, K]`);
  return w.shape[0];
}

/** The largest output of row i other than class t (the first on ties). */
export function rivalClass(output: Tensor<"float32">, i: number, t: number): number {
  const k = output.shape[1];
  let best = t === 0 ? 1 : 0;
  for (let j = 0; j < k; j++) if (j !== t && output.data[i * k + j] > output.data[i * k + best]) best = j;
  return best;
}

/**
 * The model's own output gradients when it has them; otherwise composed from class
 * gradients, each (sample, class) pair that some row weighs taken once: slot j holds every
 * sample's j-th such class, one class gradient per slot, and a prediction.
 */
export async function outputGradients(
  model: Predictor & ClassGradient & Partial<OutputGradients>,
  x: Tensor<"float32">,
  request: OutputGradientRequest,
): Promise<OutputGradientResult> {
  if (hasOutputGradients(model)) return model.outputGradients(x, request);
  const n = x.shape[0];
  const row = sizeOf(x.shape.slice(1));
  const output = await model.predict(x);
  const k = output.shape[1];
  const weights = request.weights ?? rivalWeights(output, request.rivalOf as Labels);
  const rows = requestRows({ weights }, n);
  const weighs = (i: number, c: number) => [...Array(rows).keys()].some((r) => weights.data[(r * n + i) * k + c] !== 0);
  const weighed = Array.from({ length: n }, (_, i) => [...Array(k).keys()].filter((c) => weighs(i, c)));
  const gradients = new Float32Array(rows * n * row);
  const slots = Math.max(0, ...weighed.map((cs) => cs.length));
  for (let j = 0; j < slots; j++) {
    // A sample with fewer classes repeats its first (or class 0) and adds nothing.
    const classes = weighed.map((cs) => cs[j] ?? cs[0] ?? 0);
    const g = (await model.classGradient(x, classes)).data;
    for (let i = 0; i < n; i++) {
      const c = weighed[i][j];
      if (c === undefined) continue;
      for (let r = 0; r < rows; r++) {
        const w = weights.data[(r * n + i) * k + c];
        const base = (r * n + i) * row;
        if (w !== 0) for (let q = 0; q < row; q++) gradients[base + q] += w * g[i * row + q];
      }
    }
  }
  return { output, gradients: float32([rows, ...x.shape], gradients) };
}

/** The weights of the rival request: e_rival − e_t per sample, the rival read from the outputs. */
function rivalWeights(output: Tensor<"float32">, of: Labels): Tensor<"float32"> {
  const [n, k] = output.shape;
  const w = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    w[i * k + rivalClass(output, i, of[i])] = 1;
    w[i * k + of[i]] = -1;
  }
  return float32([1, n, k], w);
}

/** `times` copies of the batch one after the other: row r·N + i is sample i. */
export function tileRows(x: Tensor<"float32">, times: number): Tensor<"float32"> {
  const data = new Float32Array(x.data.length * times);
  for (let r = 0; r < times; r++) data.set(x.data, r * x.data.length);
  return float32([x.shape[0] * times, ...x.shape.slice(1)], data);
}

/** The targets matrix [R·N, K] a gradient graph reads for a request (the rows of W, or onehot(t) for the rival difference). */
export function requestTargets(request: OutputGradientRequest, oneHot: (labels: Labels) => Tensor<"float32">): Tensor<"float32"> {
  if (request.rivalOf) return oneHot(request.rivalOf);
  const w = request.weights as Tensor<"float32">;
  return float32([w.shape[0] * w.shape[1], w.shape[2]], w.data);
}

/**
 * Samples per run when a run holds `fit` samples at most: the fewest runs, each as full as
 * the others, rounded up to one of four sizes per power of two (so that calls of any size
 * share a few graphs, while padding wastes under a fifth of the rows, 3% on average).
 */
export function samplesPerRun(n: number, fit: number): number {
  const runs = Math.ceil(n / fit);
  const even = Math.ceil(n / runs);
  let step = 1;
  while (step * 8 <= even) step *= 2;
  return Math.min(fit, Math.ceil(even / step) * step);
}

/**
 * Rewrites a gradient graph built over `rows` copies of a batch (input row r·N + i holding
 * sample i, as `tileRows` lays them out) so that its forward pass runs once, on the N
 * samples fed as they are: every activation the loss and the backward passes read is tiled
 * to the R copies (ONNX Tile repeats whole blocks along the first axis, that layout). The
 * first `forwardNodes` nodes are the model's; `shapes` are the values' probed shapes at
 * R·N. Returns false, the graph untouched, unless every value read across that line
 * carries the samples on its first axis and is floating point (integer values such as
 * MaxPool's indices number elements across the batch, so a tiled copy would point into
 * the first copy).
 */
export function shareForward(graph: Graph, opset: number, forwardNodes: number, input: string, shapes: ReadonlyMap<string, ValueShape>, rows: number): boolean {
  const forward = graph.nodes.slice(0, forwardNodes);
  const rest = graph.nodes.slice(forwardNodes);
  const onInput = new Set([input]);
  for (const node of forward) if (node.inputs.some((i) => onInput.has(i))) for (const o of node.outputs) if (o) onInput.add(o);
  const read = new Set<string>();
  for (const node of rest) for (const i of node.inputs) if (onInput.has(i)) read.add(i);
  const batch = shapes.get(input)?.dims[0];
  for (const value of read) {
    const s = shapes.get(value);
    if (!s || !isFloatType(s.dataType) || s.dims.length === 0 || s.dims[0] !== batch) return false;
  }
  const b = new GraphBuilder(graph, opset, "shared");
  const tiled = new Map<string, string>();
  for (const value of read) {
    const rank = (shapes.get(value) as ValueShape).dims.length;
    tiled.set(value, b.op("Tile", [value, b.int64s([rows, ...Array<number>(rank - 1).fill(1)])]));
  }
  const tiles = graph.nodes.splice(graph.nodes.length - tiled.size, tiled.size);
  for (const node of rest) node.inputs = node.inputs.map((i) => tiled.get(i) ?? i);
  graph.nodes.splice(forwardNodes, 0, ...tiles);
  return true;
}
