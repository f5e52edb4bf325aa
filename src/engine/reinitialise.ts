/**
 * A model's architecture with fresh weights, for `aegis train --like`: shadow models and
 * surrogates of a target's own architecture, whatever framework exported it.
 *
 * Each weight is recognised by the node that consumes it, and drawn from a seeded generator:
 * - Conv, ConvTranspose, Gemm and MatMul weights: He et al. 2015 (normal, std √(2/fan_in))
 *   when the layer feeds a ReLU-family activation (Relu, LeakyRelu, PRelu — through
 *   BatchNorm, pooling, reshapes and residual Adds), Glorot & Bengio 2010 (uniform,
 *   ±√(6/(fan_in + fan_out))) otherwise; their biases 0. (PyTorch's own default is
 *   U(±1/√fan_in) for both; He and Glorot by layer type train faster from scratch.)
 * - BatchNormalization, LayerNormalization, InstanceNormalization: scale 1, shift 0, and
 *   BatchNorm's running statistics mean 0, variance 1.
 * Other initializers (constants an exporter stored as tensors) keep their values.
 * Exporters merge initializers that hold equal values (an untrained model's BatchNorm
 * scales, all ones) behind Identity nodes; those are split first, so every layer gets its own.
 */
import { createRng, type Rng } from "../data/random.js";
import { AegisError } from "../errors.js";
import { cloneModel, DataType, getInt, type Model, type Node, type TensorValue } from "../onnx/ir.js";

export interface ReinitialiseResult {
  model: Model;
  /** Names of the initializers drawn afresh. */
  reinitialised: string[];
}

const RELU_FAMILY = new Set(["Relu", "LeakyRelu", "PRelu"]);
/** Ops an activation is looked for through: they keep the layer's units (or add another layer's). */
const PASS_THROUGH = new Set([
  "BatchNormalization",
  "Add",
  "Identity",
  "MaxPool",
  "AveragePool",
  "GlobalAveragePool",
  "GlobalMaxPool",
  "Flatten",
  "Reshape",
  "Dropout",
]);

export function reinitialise(source: Model, seed: number): ReinitialiseResult {
  const model = cloneModel(source);
  untieIdentities(model);
  const rng = createRng(seed);
  const byName = new Map(model.graph.initializers.map((t) => [t.name, t]));
  const consumers = new Map<string, Node[]>();
  for (const node of model.graph.nodes) for (const input of node.inputs) consumers.set(input, [...(consumers.get(input) ?? []), node]);
  const fresh = new Map<string, Float32Array>();
  const set = (name: string | undefined, values: (t: TensorValue) => Float32Array) => {
    const t = name ? byName.get(name) : undefined;
    if (!t || t.dataType !== DataType.FLOAT || fresh.has(t.name)) return;
    fresh.set(t.name, values(t));
  };
  const fill = (value: number) => (t: TensorValue) => new Float32Array(size(t)).fill(value);

  for (const node of model.graph.nodes) {
    if (node.domain !== "" && node.domain !== "ai.onnx") continue;
    const [, weight, bias] = node.inputs;
    switch (node.opType) {
      case "Conv":
      case "ConvTranspose":
      case "Gemm":
      case "MatMul":
        set(weight, (t) => draw(rng, t, fans(node, t), feedsRelu(node, consumers)));
        set(bias, fill(0));
        break;
      case "BatchNormalization":
        set(node.inputs[1], fill(1));
        set(node.inputs[2], fill(0));
        set(node.inputs[3], fill(0));
        set(node.inputs[4], fill(1));
        break;
      case "LayerNormalization":
      case "InstanceNormalization":
        set(node.inputs[1], fill(1));
        set(node.inputs[2], fill(0));
        break;
    }
  }
  if (fresh.size === 0) {
    throw new AegisError(
      "UNSUPPORTED",
      "the model has no Conv, Gemm, MatMul or normalisation weights stored as initializers; there is nothing to re-initialise",
    );
  }
  model.graph.initializers = model.graph.initializers.map((t) => {
    const values = fresh.get(t.name);
    return values ? { ...t, data: values } : t;
  });
  return { model, reinitialised: [...fresh.keys()] };
}

function size(t: TensorValue): number {
  return t.dims.reduce((p, d) => p * d, 1);
}

/** fan_in and fan_out of a layer's weight, as PyTorch counts them. */
function fans(node: Node, t: TensorValue): { fanIn: number; fanOut: number } {
  const d = t.dims;
  if (node.opType === "Conv" || node.opType === "ConvTranspose") {
    const receptive = d.slice(2).reduce((p, v) => p * v, 1);
    // Conv: [out, in/groups, k…]; ConvTranspose: [in, out/groups, k…] (PyTorch counts both as stored).
    return { fanIn: d[1] * receptive, fanOut: d[0] * receptive };
  }
  if (node.opType === "Gemm" && getInt(node, "transB", 0) === 1) return { fanIn: d[1], fanOut: d[0] };
  // Gemm without transB and MatMul: [in, out] (the last two axes).
  return { fanIn: d.at(-2) ?? 1, fanOut: d.at(-1) ?? 1 };
}

function draw(rng: Rng, t: TensorValue, { fanIn, fanOut }: { fanIn: number; fanOut: number }, he: boolean): Float32Array {
  if (he) {
    const std = Math.sqrt(2 / fanIn);
    return Float32Array.from({ length: size(t) }, () => rng.normal() * std);
  }
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  return Float32Array.from({ length: size(t) }, () => (rng.next() * 2 - 1) * bound);
}

/** Whether the layer's output reaches a ReLU-family activation before another layer. */
function feedsRelu(node: Node, consumers: ReadonlyMap<string, Node[]>): boolean {
  const seen = new Set<string>();
  const pending = [node.outputs[0]];
  while (pending.length > 0) {
    const value = pending.pop() as string;
    if (seen.has(value)) continue;
    seen.add(value);
    for (const next of consumers.get(value) ?? []) {
      if (RELU_FAMILY.has(next.opType)) return true;
      if (PASS_THROUGH.has(next.opType)) pending.push(next.outputs[0]);
    }
  }
  return false;
}

/** Replaces each Identity of an initializer by a copy of it under the Identity's output name. */
function untieIdentities(model: Model): void {
  const graph = model.graph;
  const byName = new Map(graph.initializers.map((t) => [t.name, t]));
  const kept: Node[] = [];
  for (const node of graph.nodes) {
    const source = node.opType === "Identity" ? byName.get(node.inputs[0]) : undefined;
    const output = node.outputs[0];
    if (source && !graph.outputs.some((o) => o.name === output)) {
      graph.initializers.push({ ...source, name: output, data: source.data.slice() });
    } else kept.push(node);
  }
  graph.nodes = kept;
}
