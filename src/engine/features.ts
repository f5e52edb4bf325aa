/**
 * Intermediate values of an ONNX model as features: the value (by default the
 * penultimate layer, i.e. the input of the last Gemm/MatMul that produces the logits) is
 * exposed as an extra graph output and read with ONNX Runtime in batches, together with
 * the model's scores. Detectors that work on representations (Mahalanobis, Lee et al.
 * 2018) use it; `vjp` maps a seed ∂L/∂features back to ∂L/∂input with a gradient graph
 * built by our autodiff, for input pre-processing on the feature-space score. Feature maps
 * of convolutional layers (channels first, ONNX's layout) are averaged over space per channel.
 */
import { appendGradients } from "../autodiff/gradient.js";
import { AegisError } from "../errors.js";
import { cloneModel, DataType, type Model } from "../onnx/ir.js";
import { float32, sizeOf, sliceRows, type Tensor } from "../tensor.js";
import { probeShapes } from "./probe.js";
import { createSession, type RuntimeOptions, type Session } from "./runtime.js";

export interface FeatureExtractorOptions extends RuntimeOptions {
  /** Name of the value to expose (default: the penultimate layer, see penultimateValue). */
  layer?: string;
  /** Samples per ONNX Runtime call (default 256, or the model's fixed batch size). */
  batchSize?: number;
  /**
   * Feature maps [N, C, H, W, …] become one value per channel, their spatial mean, as Lee et
   * al. do for convolutional layers ("mean", the default); "none" flattens them.
   */
  pooling?: "mean" | "none";
}

export interface FeatureBatch {
  /** Features [N, D], the value flattened per sample. */
  features: Tensor<"float32">;
  /** The model's first float output [N, K] (logits or probabilities, as the model gives them). */
  scores: Tensor<"float32">;
}

export interface FeatureExtractor {
  /** The value that is read. */
  readonly layer: string;
  extract(x: Tensor<"float32">): Promise<FeatureBatch>;
  /** ∂(Σᵢ seedᵢ · featuresᵢ)/∂x for seeds [N, D]: the input gradient of any function of the features. */
  vjp(x: Tensor<"float32">, seed: Tensor<"float32">): Promise<Tensor<"float32">>;
  release(): Promise<void>;
}

/** Ops between the last linear layer and the output that do not mix samples' features. */
interface GradientProgram {
  session: Session;
  seedName: string;
  /** Shape of the feature value at the program's batch size. */
  seedDims: number[];
  gradName: string;
}

const PASS_THROUGH = new Set(["Identity", "Softmax", "LogSoftmax", "Sigmoid", "Cast", "Flatten", "Reshape", "Squeeze", "Unsqueeze", "Add", "Dropout"]);

/**
 * The input of the last Gemm or MatMul on the path back from the model's score output:
 * walks back through pass-through ops (a bias Add, Identity, Softmax, …) following the
 * input that is not an initializer.
 */
export function penultimateValue(model: Model): string {
  const graph = model.graph;
  const constants = new Set(graph.initializers.map((t) => t.name));
  for (const n of graph.nodes) if (n.opType === "Constant") for (const o of n.outputs) constants.add(o);
  const producer = new Map<string, (typeof graph.nodes)[number]>();
  for (const n of graph.nodes) for (const o of n.outputs) producer.set(o, n);
  const output = graph.outputs.find((o) => o.elemType === DataType.FLOAT);
  if (!output) throw new AegisError("BAD_MODEL", "the model has no float32 output to read class scores from");
  let value = output.name;
  for (let guard = 0; guard < graph.nodes.length + 1; guard++) {
    const node = producer.get(value);
    if (!node) break;
    const dataInputs = node.inputs.filter((i) => i !== "" && !constants.has(i));
    if ((node.opType === "Gemm" || node.opType === "MatMul") && dataInputs.length === 1) return dataInputs[0];
    if (!PASS_THROUGH.has(node.opType) || dataInputs.length !== 1) break;
    value = dataInputs[0];
  }
  throw new AegisError(
    "UNSUPPORTED",
    `cannot find the penultimate layer of the model (no Gemm/MatMul with one data input feeds "${output.name}"); name the value to read with --layer (aegis inspect lists them)`,
  );
}

export async function createFeatureExtractor(source: Model, options: FeatureExtractorOptions = {}): Promise<FeatureExtractor> {
  const model = cloneModel(source);
  const graph = model.graph;
  const initializerNames = new Set(graph.initializers.map((t) => t.name));
  const inputs = graph.inputs.filter((i) => !initializerNames.has(i.name));
  if (inputs.length !== 1 || inputs[0].elemType !== DataType.FLOAT) {
    throw new AegisError("UNSUPPORTED", "feature extraction needs a model with one float32 input tensor");
  }
  const inputName = inputs[0].name;
  const scores = graph.outputs.find((o) => o.elemType === DataType.FLOAT);
  if (!scores) throw new AegisError("BAD_MODEL", "the model has no float32 output to read class scores from");
  const layer = options.layer ?? penultimateValue(model);
  if (!graph.nodes.some((n) => n.outputs.includes(layer))) {
    throw new AegisError("BAD_OPTION", `the model has no value named "${layer}"; aegis inspect lists the values of a model`);
  }
  const firstDim = inputs[0].shape?.[0];
  const fixedBatch = typeof firstDim === "number" && firstDim > 0 ? firstDim : undefined;
  const batchSize = fixedBatch ?? options.batchSize ?? 256;
  const runtime: RuntimeOptions = { threads: options.threads, device: options.device };
  const pooled = (options.pooling ?? "mean") === "mean";
  /** Features per sample and values averaged into each, for a value of this shape. */
  const layout = (shape: readonly number[]) =>
    pooled && shape.length >= 3 ? { channels: shape[1], spatial: sizeOf(shape.slice(2)) } : { channels: sizeOf(shape.slice(1)), spatial: 1 };

  const forwardModel = cloneModel(model);
  forwardModel.graph.outputs = [{ name: scores.name, elemType: DataType.FLOAT }];
  if (layer !== scores.name) forwardModel.graph.outputs.push({ name: layer, elemType: DataType.FLOAT });
  let forward: Promise<Session> | undefined;
  const gradients = new Map<number, Promise<GradientProgram>>();

  const checkBatch = (x: Tensor<"float32">) => {
    if (x.shape.length < 1 || x.shape[0] === 0) throw new AegisError("BAD_DATA", "feature extraction got an empty batch");
  };

  const gradientProgram = (x: Tensor<"float32">, rows: number) => {
    let program = gradients.get(rows);
    if (!program) {
      program = (async () => {
        const g = cloneModel(model);
        const seedName = "aegis/feature-seed";
        const sample = padRows(sliceRows(x, 0, Math.min(rows, x.shape[0])), rows);
        const shapes = await probeShapes(g, { [inputName]: sample }, runtime);
        const featureShape = shapes.get(layer);
        if (!featureShape) throw new AegisError("BAD_MODEL", `the value "${layer}" is not computed for this input`);
        g.graph.inputs.push({ name: seedName, elemType: DataType.FLOAT, shape: [...featureShape.dims] });
        shapes.set(seedName, { dims: [...featureShape.dims], dataType: DataType.FLOAT });
        const grads = appendGradients(g, { seeds: [{ value: layer, seed: seedName }], wrt: [inputName], shapes });
        const gradName = grads.get(inputName) as string;
        g.graph.outputs = [{ name: gradName, elemType: DataType.FLOAT }];
        return { session: await createSession(g, runtime), seedName, seedDims: [...featureShape.dims], gradName };
      })();
      gradients.set(rows, program);
      program.catch(() => gradients.delete(rows));
    }
    return program;
  };

  return {
    layer,
    async extract(x) {
      checkBatch(x);
      forward ??= createSession(forwardModel, runtime);
      const session = await forward;
      const n = x.shape[0];
      let features: Float32Array | undefined;
      let out: Float32Array | undefined;
      let width = 0;
      let k = 0;
      for (let start = 0; start < n; start += batchSize) {
        const end = Math.min(n, start + batchSize);
        const batch = fixedBatch ? padRows(sliceRows(x, start, end), fixedBatch) : sliceRows(x, start, end);
        const result = await session.run({ [inputName]: batch }, layer === scores.name ? [layer] : [scores.name, layer]);
        const f = result[layer];
        const s = result[scores.name];
        const { channels, spatial } = layout(f.shape);
        width = channels;
        k = sizeOf(s.shape.slice(1));
        features ??= new Float32Array(n * width);
        out ??= new Float32Array(n * k);
        const values = f.data as Float32Array;
        for (let i = 0; i < end - start; i++) {
          for (let c = 0; c < channels; c++) {
            let sum = 0;
            const at = (i * channels + c) * spatial;
            for (let j = 0; j < spatial; j++) sum += values[at + j];
            features[(start + i) * width + c] = sum / spatial;
          }
        }
        out.set((s.data as Float32Array).subarray(0, (end - start) * k), start * k);
      }
      return { features: float32([n, width], features), scores: float32([n, k], out) };
    },
    async vjp(x, seed) {
      checkBatch(x);
      const n = x.shape[0];
      if (seed.shape[0] !== n) throw new AegisError("SHAPE_MISMATCH", `${n} inputs but ${seed.shape[0]} feature seeds`);
      const rows = fixedBatch ?? Math.min(batchSize, n);
      const program = await gradientProgram(x, rows);
      const row = sizeOf(x.shape.slice(1));
      const { channels, spatial } = layout(program.seedDims);
      if (sizeOf(seed.shape.slice(1)) !== channels) {
        throw new AegisError("SHAPE_MISMATCH", `feature seeds have ${sizeOf(seed.shape.slice(1))} values per sample, the layer gives ${channels} features`);
      }
      const grad = new Float32Array(x.data.length);
      for (let start = 0; start < n; start += rows) {
        const end = Math.min(n, start + rows);
        const result = await program.session.run(
          {
            [inputName]: padRows(sliceRows(x, start, end), rows),
            // Padding rows get zero seeds; a pooled feature spreads its seed evenly over its map.
            [program.seedName]: float32(program.seedDims, spreadSeed(padRows(sliceRows(seed, start, end), rows).data, spatial)),
          },
          [program.gradName],
        );
        grad.set((result[program.gradName].data as Float32Array).subarray(0, (end - start) * row), start * row);
      }
      return float32(x.shape, grad);
    },
    async release() {
      const sessions = [forward, ...[...gradients.values()].map((p) => p.then((q) => q.session))];
      forward = undefined;
      gradients.clear();
      for (const s of sessions) if (s) await (await s).release();
    },
  };
}

/** Each seed value repeated `spatial` times and divided by it: the backward pass of a spatial mean. */
function spreadSeed(seed: Float32Array, spatial: number): Float32Array {
  if (spatial === 1) return seed;
  const out = new Float32Array(seed.length * spatial);
  for (let i = 0; i < seed.length; i++) out.fill(seed[i] / spatial, i * spatial, (i + 1) * spatial);
  return out;
}

/** Zero rows appended up to `rows` (a short last batch). */
function padRows(t: Tensor<"float32">, rows: number): Tensor<"float32"> {
  const n = t.shape[0];
  if (n === rows) return t;
  const data = new Float32Array(rows * sizeOf(t.shape.slice(1)));
  data.set(t.data);
  return float32([rows, ...t.shape.slice(1)], data);
}
