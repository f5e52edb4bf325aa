/**
 * Each example's gradient with respect to the parameters, for a batch in one ONNX Runtime
 * run per `batchSize` examples (never one run per example): their norms always, the
 * gradients themselves on request, and for DP-SGD (Abadi et al. 2016) the clipped sum
 * Σᵢ min(1, C/‖gᵢ‖)·gᵢ. The gradient of example i is that of its own loss ℓᵢ (unweighted).
 * See autodiff/per-example.ts for how the graph gets them without per-example passes.
 */
import { appendPerExampleGradients } from "../autodiff/per-example.js";
import { AegisError } from "../errors.js";
import { GraphBuilder } from "../onnx/builder.js";
import { DataType, defaultOpset } from "../onnx/ir.js";
import { float32, sizeOf, sliceRows, type Tensor } from "../tensor.js";
import type { LossName } from "./capabilities.js";
import { type OnnxClassifier, padRows, TARGETS, WEIGHTS } from "./classifier.js";
import { type Loss, lossByName } from "./losses.js";
import { createSession, type Session } from "./runtime.js";

export interface PerExampleOptions {
  loss?: LossName | Loss;
  /** Also return every example's gradients ([N, …shape] per parameter: N times the model's size). */
  gradients?: boolean;
  /** Clip norm C: also return the sum of the examples' gradients each clipped to norm C. */
  clipNorm?: number;
  /**
   * Rows per run (default the classifier's batch size): every run is padded to this many, so
   * batches of any size, such as DP-SGD's Poisson-sampled ones, share one graph.
   */
  rows?: number;
}

export interface PerExampleResult {
  /** Each example's loss [N]. */
  loss: Float32Array;
  /** The model's outputs [N, K]. */
  output: Tensor<"float32">;
  /** ‖gᵢ‖ over all parameters [N]. */
  norms: Float32Array;
  /** Per parameter, the examples' gradients [N, …shape], flattened. */
  gradients?: Map<string, Float32Array>;
  /** Per parameter, Σᵢ min(1, C/(‖gᵢ‖ + 10⁻⁶))·gᵢ. */
  clippedSum?: Map<string, Float32Array>;
}

interface Program {
  session: Session;
  release(): Promise<void>;
  inputName: string;
  lossOut: string;
  outputOut: string;
  normsOut: string;
  gradientOuts: Map<string, string>;
  clippedOuts: Map<string, string>;
}

const CLIP_NORM = "aegis/clip_norm";

export async function perExampleGradients(
  classifier: OnnxClassifier,
  x: Tensor<"float32">,
  targets: Tensor<"float32">,
  options: PerExampleOptions = {},
): Promise<PerExampleResult> {
  if (classifier.parameters.length === 0) throw new Error("perExampleGradients() needs a classifier created with trainable: true");
  const n = x.shape[0];
  if (targets.shape[0] !== n) throw new AegisError("SHAPE_MISMATCH", `${n} inputs but ${targets.shape[0]} labels; give one label per sample`);
  if (options.clipNorm !== undefined && !(options.clipNorm > 0)) throw new AegisError("BAD_OPTION", `the clip norm must be positive, got ${options.clipNorm}`);
  const loss = typeof options.loss === "object" ? options.loss : lossByName(options.loss ?? "ce");
  if (options.rows !== undefined && !(Number.isInteger(options.rows) && options.rows > 0))
    throw new AegisError("BAD_OPTION", `the rows per run must be a positive integer, not ${options.rows}`);
  const batch = classifier.declaredBatch ?? options.rows ?? Math.min(classifier.batchSize, n);
  const ones = new Float32Array(n).fill(1);
  const want = { gradients: options.gradients ?? false, clip: options.clipNorm !== undefined };
  const key = `per-example|${loss.name}|${want.gradients}|${want.clip}|${batch}`;
  const program = await classifier.attach(key, () => build(classifier, loss, [batch, ...x.shape.slice(1)], { x, targets, weights: ones }, want));

  const losses = new Float32Array(n);
  const norms = new Float32Array(n);
  const k = classifier.numClasses;
  const output = new Float32Array(n * k);
  const sizes = new Map(classifier.parameters.map((p) => [p.name, sizeOf(p.shape)]));
  const gradients = want.gradients ? new Map([...sizes].map(([name, size]) => [name, new Float32Array(n * size)])) : undefined;
  const clippedSum = want.clip ? new Map([...sizes].map(([name, size]) => [name, new Float32Array(size)])) : undefined;
  const params = classifier.paramFeeds();
  for (let start = 0; start < n; start += batch) {
    const end = Math.min(n, start + batch);
    const rows = end - start;
    const feeds: Record<string, Tensor> = {
      ...params,
      [program.inputName]: padRows(sliceRows(x, start, end), batch),
      [TARGETS]: padRows(sliceRows(targets, start, end), batch),
      // Padding rows get weight 0: their δ, gradients and norms are zero.
      [WEIGHTS]: padRows(float32([rows], ones.subarray(start, end)), batch),
    };
    if (want.clip) feeds[CLIP_NORM] = float32([], [options.clipNorm as number]);
    const result = await program.session.run(feeds);
    losses.set((result[program.lossOut].data as Float32Array).subarray(0, rows), start);
    output.set((result[program.outputOut].data as Float32Array).subarray(0, rows * k), start * k);
    norms.set((result[program.normsOut].data as Float32Array).subarray(0, rows), start);
    for (const [name, out] of program.gradientOuts) {
      const size = sizes.get(name) as number;
      gradients?.get(name)?.set((result[out].data as Float32Array).subarray(0, rows * size), start * size);
    }
    for (const [name, out] of program.clippedOuts) {
      const acc = clippedSum?.get(name) as Float32Array;
      const g = result[out].data as Float32Array;
      for (let i = 0; i < acc.length; i++) acc[i] += g[i];
    }
  }
  return { loss: losses, output: float32([n, k], output), norms, gradients, clippedSum };
}

async function build(
  classifier: OnnxClassifier,
  loss: Loss,
  shape: number[],
  sample: { x: Tensor<"float32">; targets: Tensor<"float32">; weights: Float32Array },
  want: { gradients: boolean; clip: boolean },
): Promise<Program> {
  const { model, shapes, inputName, lossOut, totalOut, outputOut } = await classifier.lossGraph(loss, shape, sample);
  const b = new GraphBuilder(model.graph, defaultOpset(model), "per_example_out");
  if (want.clip) b.addInput(CLIP_NORM, DataType.FLOAT, []);
  const values = appendPerExampleGradients(model, {
    seeds: [{ value: totalOut, seed: b.scalar(1) }],
    params: classifier.parameters.map((p) => p.name),
    shapes,
    batch: shape[0],
    gradients: want.gradients,
    clipNorm: want.clip ? CLIP_NORM : undefined,
  });
  model.graph.outputs = [];
  for (const v of [lossOut, outputOut, values.norms, ...values.gradients.values(), ...values.clippedSums.values()]) b.addOutput(v, DataType.FLOAT);
  const session = await createSession(model, classifier.runtimeOptions);
  return {
    session,
    release: () => session.release(),
    inputName,
    lossOut,
    outputOut,
    normsOut: values.norms,
    gradientOuts: values.gradients,
    clippedOuts: values.clippedSums,
  };
}
