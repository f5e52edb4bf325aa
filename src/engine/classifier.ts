/**
 * An ONNX model as a classifier with all three capabilities (Predictor, LossGradient,
 * ClassGradient). Normalisation is prepended to the graph, so gradients are taken with
 * respect to the raw input the user holds; a trailing Softmax is seen through, so losses
 * use logits. Gradient graphs (forward + loss + backward) are built on first use for a
 * (loss, wrt, batch shape) and cached; a short last batch is padded with zero-weight
 * rows so that one graph serves a whole dataset.
 *
 * With `trainable: true` the floating-point initializers become graph inputs fed from a
 * parameter store (weights, and BatchNorm's running statistics apart), so the trainer (and
 * attacks inside its batch transform) run the current weights without rebuilding sessions.
 */
import { appendGradients, type GradientProblem } from "../autodiff/gradient.js";
import type { ValueShape } from "../autodiff/rule.js";
import { AegisError } from "../errors.js";
import { GraphBuilder } from "../onnx/builder.js";
import { loadModel } from "../onnx/io.js";
import { cloneModel, DataType, defaultOpset, type Model, type TensorValue } from "../onnx/ir.js";
import { float32, sizeOf, sliceRows, type Tensor } from "../tensor.js";
import type { Classifier, Labels, LossName, LossOptions } from "./capabilities.js";
import {
  type OutputGradientRequest,
  type OutputGradientResult,
  type OutputGradients,
  requestRows,
  requestTargets,
  rivalDifference,
  samplesPerRun,
  shareForward,
  tileRows,
} from "./jacobian.js";
import { classOutput, type Loss, lossByName } from "./losses.js";
import { probeShapes } from "./probe.js";
import { createSession, type RuntimeOptions, type Session } from "./runtime.js";
import { toTrainingMode } from "./training-mode.js";

export interface OnnxClassifierOptions extends RuntimeOptions {
  /** Valid input range (default [0, 1]). */
  clipRange?: [number, number];
  /** Per-channel (or scalar) normalisation applied inside the model: (x − mean) / std. */
  preprocessing?: { mean: number | number[]; std: number | number[] };
  /** What the model outputs; "auto" (default) says probs when its last op is Softmax. */
  outputKind?: "logits" | "probs" | "auto";
  /** Samples per ONNX Runtime call (default 128, or the model's fixed batch size). */
  batchSize?: number;
  /** Feed floating-point initializers as parameters (training). */
  trainable?: boolean;
}

export interface EvaluateOptions {
  /** Loss to take (default "ce"). */
  loss?: LossName | "class" | Loss;
  /** Gradients to return. */
  wrt?: { input?: boolean; params?: boolean };
  /** Per-sample weights of the summed loss (default 1: the sum of per-sample losses). */
  weights?: Float32Array;
}

export interface Evaluation {
  /** Per-sample loss [N]. */
  loss: Float32Array;
  /** Weighted sum of the per-sample losses. */
  total: number;
  /** The model's raw outputs [N, K]. */
  output: Tensor<"float32">;
  inputGrad?: Tensor<"float32">;
  /** Gradient per parameter name (summed over the batch with the weights). */
  paramGrads?: Map<string, Float32Array>;
}

export interface Parameter {
  readonly name: string;
  readonly shape: readonly number[];
  /**
   * Current values. Optimizers update them in place, and the training step replaces the
   * array with the one its run wrote: read `value` again after a step instead of keeping it.
   */
  value: Float32Array;
}

/** A model with its loss appended, and the names of its values (see OnnxClassifier.lossGraph). */
export interface LossGraph {
  model: Model;
  /** Static shapes of the forward graph's values, from the probe. */
  shapes: Map<string, ValueShape>;
  inputName: string;
  /** Per-sample loss [B]. */
  lossOut: string;
  /** Σ weight·loss, the scalar a backward pass starts from. */
  totalOut: string;
  outputOut: string;
  /** In training mode, the value holding each statistic's update. */
  statisticUpdates: Map<string, string>;
}

/** A gradient graph and the names of its values (see OnnxClassifier.gradientGraph). */
export interface GradientGraph extends Omit<LossGraph, "shapes"> {
  inputGradOut?: string;
  /** Gradient output per parameter name. */
  paramGradOuts: Map<string, string>;
}

interface GradientProgram extends Omit<GradientGraph, "model"> {
  session: Session;
  batch: number;
}

/** A gradient graph of output-gradient rows (see OnnxClassifier.outputGradients). */
interface RowProgram {
  session: Session;
  outputOut: string;
  inputGradOut: string;
  /** Fed the samples once (the forward pass shared by the rows), else their tiled copies. */
  shared: boolean;
}

interface Releasable {
  release(): Promise<void>;
}

export const TARGETS = "aegis/targets";
export const WEIGHTS = "aegis/weights";

export class OnnxClassifier implements Classifier, OutputGradients {
  readonly inputShape: readonly number[];
  readonly numClasses: number;
  readonly clipRange: readonly [number, number];
  readonly outputKind: "logits" | "probs";
  readonly batchSize: number;
  /** Trainable parameters (empty unless created with `trainable`). */
  readonly parameters: readonly Parameter[];
  /**
   * State that training updates but no gradient reaches: BatchNormalization's running
   * statistics (empty unless created with `trainable`).
   */
  readonly statistics: readonly Parameter[];

  private readonly model: Model;
  private readonly inputName: string;
  private readonly outputName: string;
  /** The value holding logits, when the graph has one (the input of a final Softmax, or the output). */
  private readonly logitsName: string | undefined;
  private readonly fixedBatch: number | undefined;
  private readonly runtime: RuntimeOptions;
  private forward: Promise<Session> | undefined;
  private readonly programs = new Map<string, Promise<GradientProgram>>();
  private readonly rowPrograms = new Map<string, Promise<RowProgram>>();
  private readonly attached = new Map<string, Promise<Releasable>>();

  /** An encrypted model (`aegis encrypt`) is decrypted in memory with `keyFile`, else AEGIS_KEY or AEGIS_KEY_FILE. */
  static fromFile(path: string, options: OnnxClassifierOptions & { keyFile?: string } = {}): Promise<OnnxClassifier> {
    const { keyFile, ...rest } = options;
    return OnnxClassifier.create(loadModel(path, keyFile), rest);
  }

  /** Wraps a model; learns the number of classes from one run when the model does not declare it. */
  static async create(model: Model, options: OnnxClassifierOptions = {}): Promise<OnnxClassifier> {
    const declared = model.graph.outputs.find((o) => o.elemType === DataType.FLOAT)?.shape?.at(-1);
    if (typeof declared === "number" && declared > 0) return new OnnxClassifier(model, options, declared);
    const probe = new OnnxClassifier(model, options, 0);
    const sample = probe.inputShape.map((d) => (d > 0 ? d : 1));
    const out = await probe.predict(float32([1, ...sample]));
    await probe.release();
    return new OnnxClassifier(model, options, out.shape.at(-1) ?? 0);
  }

  private constructor(source: Model, options: OnnxClassifierOptions, numClasses: number) {
    const graph = source.graph;
    const initializerNames = new Set(graph.initializers.map((t) => t.name));
    const dataInputs = graph.inputs.filter((i) => !initializerNames.has(i.name));
    if (dataInputs.length !== 1) {
      throw new AegisError(
        "UNSUPPORTED",
        `the model has ${dataInputs.length} inputs (${dataInputs.map((i) => i.name).join(", ")}); Aegis classifiers take models with one input tensor`,
      );
    }
    const input = dataInputs[0];
    if (input.elemType !== DataType.FLOAT) {
      throw new AegisError("UNSUPPORTED", `the model's input "${input.name}" is ${DataType[input.elemType]}; Aegis classifiers need a float32 input`);
    }
    // scikit-learn exports put an int64 label first; the scores are the first float output.
    const scores = graph.outputs.find((o) => o.elemType === DataType.FLOAT);
    if (!scores) throw new AegisError("BAD_MODEL", "the model has no float32 output to read class scores from");
    this.runtime = { threads: options.threads, device: options.device };
    this.clipRange = options.clipRange ?? [0, 1];
    const shape = input.shape ?? [];
    this.inputShape = shape.slice(1).map((d) => (typeof d === "number" ? d : -1));
    this.fixedBatch = typeof shape[0] === "number" && shape[0] > 0 ? shape[0] : undefined;
    this.batchSize = this.fixedBatch ?? options.batchSize ?? 128;
    this.numClasses = numClasses;
    this.outputName = scores.name;

    const model = cloneModel(source);
    this.inputName = options.preprocessing ? prependNormalisation(model, input.name, this.inputShape, options.preprocessing) : input.name;

    const producer = model.graph.nodes.find((n) => n.outputs.includes(this.outputName));
    const endsInSoftmax = producer?.opType === "Softmax";
    const kind = options.outputKind ?? "auto";
    const classicalMl = producer?.domain === "ai.onnx.ml";
    this.outputKind = kind === "auto" ? (endsInSoftmax || classicalMl ? "probs" : "logits") : kind;
    this.logitsName = this.outputKind === "logits" ? this.outputName : endsInSoftmax ? producer?.inputs[0] : undefined;

    const { parameters, statistics } = options.trainable ? trainableState(model) : { parameters: [], statistics: [] };
    this.parameters = parameters;
    this.statistics = statistics;
    this.model = model;
  }

  /** The model with the current parameters and statistics as initializers (for saving). */
  exportModel(): Model {
    const model = cloneModel(this.model);
    const state = [...this.parameters, ...this.statistics];
    const names = new Set(state.map((p) => p.name));
    model.graph.inputs = model.graph.inputs.filter((i) => !names.has(i.name));
    for (const p of state) {
      model.graph.initializers.push({ name: p.name, dataType: DataType.FLOAT, dims: [...p.shape], data: Float32Array.from(p.value) });
    }
    return model;
  }

  async predict(x: Tensor<"float32">): Promise<Tensor<"float32">> {
    this.checkInput(x);
    const session = await this.forwardSession();
    const n = x.shape[0];
    const chunks: Float32Array[] = [];
    let width = this.numClasses;
    for (let start = 0; start < n; start += this.batchSize) {
      const end = Math.min(n, start + this.batchSize);
      const batch = this.fixedBatch ? padRows(sliceRows(x, start, end), this.fixedBatch) : sliceRows(x, start, end);
      const y = (await session.run({ ...this.paramFeeds(), [this.inputName]: batch }, [this.outputName]))[this.outputName];
      width = y.shape.at(-1) ?? 1;
      chunks.push((y.data as Float32Array).subarray(0, (end - start) * width));
    }
    const out = new Float32Array(n * width);
    let offset = 0;
    for (const c of chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return float32([n, width], out);
  }

  async lossGradient(x: Tensor<"float32">, y: Labels, options: LossOptions = {}): Promise<Tensor<"float32">> {
    const loss = options.loss ?? "ce";
    const result = await this.evaluate(x, this.lossTargets(y, loss, options.targets), { loss, wrt: { input: true } });
    return result.inputGrad as Tensor<"float32">;
  }

  async valueAndGradient(
    x: Tensor<"float32">,
    y: Labels,
    options: LossOptions = {},
  ): Promise<{ loss: Float32Array; output: Tensor<"float32">; grad: Tensor<"float32"> }> {
    const loss = options.loss ?? "ce";
    const result = await this.evaluate(x, this.lossTargets(y, loss, options.targets), { loss, wrt: { input: true } });
    return { loss: result.loss, output: result.output, grad: result.inputGrad as Tensor<"float32"> };
  }

  async classGradient(x: Tensor<"float32">, cls: Labels): Promise<Tensor<"float32">> {
    const result = await this.evaluate(x, this.oneHot(cls), { loss: "class", wrt: { input: true } });
    return result.inputGrad as Tensor<"float32">;
  }

  /**
   * Outputs and R rows of output gradients (engine/jacobian.ts): one run per batch of
   * samples, its forward pass once over the samples and its R backward passes over R tiled
   * copies, each copy seeded by its row's weights (`shareForward`; where the graph does not
   * allow it, the forward pass runs over the R copies too).
   */
  async outputGradients(x: Tensor<"float32">, request: OutputGradientRequest): Promise<OutputGradientResult> {
    this.checkInput(x);
    const n = x.shape[0];
    const rows = requestRows(request, n);
    const k = this.numClasses;
    const targets = requestTargets(request, (labels) => this.oneHot(labels));
    const loss = request.rivalOf ? rivalDifference : classOutput;
    const per = samplesPerRun(n, Math.max(1, Math.floor(this.batchSize / rows)));
    const row = sizeOf(x.shape.slice(1));
    const output = new Float32Array(n * k);
    const gradients = new Float32Array(rows * n * row);
    for (let start = 0; start < n; start += per) {
      const end = Math.min(n, start + per);
      const chunk = padRows(sliceRows(x, start, end), per);
      const seeds = new Float32Array(rows * per * k);
      for (let r = 0; r < rows; r++) seeds.set(targets.data.subarray((r * n + start) * k, (r * n + end) * k), r * per * k);
      const { output: out, grad } = await this.runRows(loss, rows, chunk, float32([rows * per, k], seeds));
      output.set(out.subarray(0, (end - start) * k), start * k);
      for (let r = 0; r < rows; r++) gradients.set(grad.subarray(r * per * row, (r * per + end - start) * row), (r * n + start) * row);
    }
    return { output: float32([n, k], output), gradients: float32([rows, ...x.shape], gradients) };
  }

  /** The outputs of `chunk` and the input gradients of its `rows` seeded copies, in one run. */
  private async runRows(loss: Loss, rows: number, chunk: Tensor<"float32">, seeds: Tensor<"float32">): Promise<{ output: Float32Array; grad: Float32Array }> {
    const tiled = tileRows(chunk, rows);
    if (this.fixedBatch) {
      // A fixed batch of rows fits no graph of another size: the forward pass runs over every copy.
      const result = await this.evaluate(tiled, seeds, { loss, wrt: { input: true } });
      return { output: result.output.data, grad: (result.inputGrad as Tensor<"float32">).data };
    }
    const batch = tiled.shape[0];
    const weights = new Float32Array(batch).fill(1);
    const key = `rows|${loss.name}|${rows}|${tiled.shape.join("x")}`;
    let program = this.rowPrograms.get(key);
    if (!program) {
      program = this.buildRowProgram(loss, rows, tiled, seeds, weights);
      this.rowPrograms.set(key, program);
      program.catch(() => this.rowPrograms.delete(key));
    }
    const { session, outputOut, inputGradOut, shared } = await program;
    const feeds: Record<string, Tensor> = {
      ...this.paramFeeds(),
      [this.inputName]: shared ? chunk : tiled,
      [TARGETS]: seeds,
      [WEIGHTS]: float32([batch], weights),
    };
    const result = await session.run(feeds, [outputOut, inputGradOut]);
    return { output: result[outputOut].data as Float32Array, grad: result[inputGradOut].data as Float32Array };
  }

  private async buildRowProgram(loss: Loss, rows: number, x: Tensor<"float32">, targets: Tensor<"float32">, weights: Float32Array): Promise<RowProgram> {
    const { model, shapes, outputOut, inputGradOut } = await this.gradientGraphWithShapes(loss, { input: true }, x.shape, { x, targets, weights });
    // One row has nothing to share.
    const shared = rows > 1 && shareForward(model.graph, defaultOpset(model), this.model.graph.nodes.length, this.inputName, shapes, rows);
    return { session: await createSession(model, this.runtime), outputOut, inputGradOut: inputGradOut as string, shared };
  }

  /** One-hot targets [N, K] for integer labels, after checking their range. */
  oneHot(labels: Labels): Tensor<"float32"> {
    const k = this.numClasses;
    const t = new Float32Array(labels.length * k);
    labels.forEach((label, i) => {
      if (!Number.isInteger(label) || label < 0 || label >= k) {
        throw new AegisError("LABEL_OUT_OF_RANGE", `label ${label} of sample ${i} is outside the model's classes 0..${k - 1}; check the labels or the --y-key`);
      }
      t[i * k + label] = 1;
    });
    return float32([labels.length, k], t);
  }

  /** The target matrix of a loss: one-hot labels, or onehot(y) − onehot(t) for the targeted DLR. */
  private lossTargets(y: Labels, loss: LossName, targets: Labels | undefined): Tensor<"float32"> {
    const t = this.oneHot(y);
    if (loss !== "dlr-targeted") return t;
    if (targets?.length !== y.length) {
      throw new AegisError("BAD_OPTION", "the dlr-targeted loss needs one target class per sample; pass them as options.targets");
    }
    const away = this.oneHot(targets);
    for (let i = 0; i < t.data.length; i++) t.data[i] -= away.data[i];
    return t;
  }

  /**
   * Loss, outputs and the requested gradients for any number of samples, in batches.
   * Targets are one-hot or soft labels [N, K].
   */
  async evaluate(x: Tensor<"float32">, targets: Tensor<"float32">, options: EvaluateOptions = {}): Promise<Evaluation> {
    this.checkInput(x);
    const n = x.shape[0];
    if (targets.shape[0] !== n) throw new AegisError("SHAPE_MISMATCH", `${n} inputs but ${targets.shape[0]} labels; give one label per sample`);
    const weights = options.weights ?? new Float32Array(n).fill(1);
    const batch = this.fixedBatch ?? Math.min(this.batchSize, n);
    const program = await this.program(options, [batch, ...x.shape.slice(1)], x, targets, weights);

    const k = this.numClasses;
    const loss = new Float32Array(n);
    const output = new Float32Array(n * k);
    const inputGrad = program.inputGradOut ? new Float32Array(x.data.length) : undefined;
    const paramGrads = program.paramGradOuts.size > 0 ? new Map(this.parameters.map((p) => [p.name, new Float32Array(p.value.length)])) : undefined;
    let total = 0;
    const row = sizeOf(x.shape.slice(1));
    for (let start = 0; start < n; start += batch) {
      const end = Math.min(n, start + batch);
      const rows = end - start;
      const feeds: Record<string, Tensor> = {
        ...this.paramFeeds(),
        [this.inputName]: padRows(sliceRows(x, start, end), batch),
        [TARGETS]: padRows(sliceRows(targets, start, end), batch),
        [WEIGHTS]: padRows(float32([rows], weights.subarray(start, end)), batch),
      };
      const result = await program.session.run(feeds);
      loss.set((result[program.lossOut].data as Float32Array).subarray(0, rows), start);
      output.set((result[program.outputOut].data as Float32Array).subarray(0, rows * k), start * k);
      total += (result[program.totalOut].data as Float32Array)[0];
      if (inputGrad && program.inputGradOut) inputGrad.set((result[program.inputGradOut].data as Float32Array).subarray(0, rows * row), start * row);
      if (paramGrads) {
        for (const [name, out] of program.paramGradOuts) {
          const g = result[out].data as Float32Array;
          const acc = paramGrads.get(name) as Float32Array;
          for (let i = 0; i < acc.length; i++) acc[i] += g[i];
        }
      }
    }
    return {
      loss,
      total,
      output: float32([n, k], output),
      inputGrad: inputGrad ? float32(x.shape, inputGrad) : undefined,
      paramGrads,
    };
  }

  async release(): Promise<void> {
    const resources = [
      this.forward,
      ...[...this.programs.values(), ...this.rowPrograms.values()].map((p) => p.then((q) => q.session)),
      ...this.attached.values(),
    ];
    this.forward = undefined;
    this.programs.clear();
    this.rowPrograms.clear();
    this.attached.clear();
    for (const r of resources) if (r) await (await r).release();
  }

  /**
   * Something built on this classifier's graphs (a training step's sessions), made once per
   * key and released with the classifier.
   */
  attach<T extends Releasable>(key: string, make: () => Promise<T>): Promise<T> {
    let resource = this.attached.get(key);
    if (!resource) {
      resource = make();
      this.attached.set(key, resource);
      resource.catch(() => this.attached.delete(key));
    }
    return resource as Promise<T>;
  }

  /** The parameters and statistics as feeds (read in place, not copied). */
  paramFeeds(): Record<string, Tensor> {
    const feeds: Record<string, Tensor> = {};
    for (const p of [...this.parameters, ...this.statistics]) feeds[p.name] = float32(p.shape, p.value);
    return feeds;
  }

  private forwardSession(): Promise<Session> {
    this.forward ??= createSession(this.model, this.runtime);
    return this.forward;
  }

  private checkInput(x: Tensor<"float32">): void {
    const got = x.shape.slice(1);
    const fits = got.length === this.inputShape.length && this.inputShape.every((d, i) => d < 0 || d === got[i]);
    if (!fits) {
      throw new AegisError(
        "SHAPE_MISMATCH",
        `the data's samples have shape [${got.join(", ")}] but the model expects [${this.inputShape.map((d) => (d < 0 ? "?" : d)).join(", ")}]; reshape the data (e.g. add a channel axis) or choose another --x-key`,
      );
    }
  }

  private program(
    options: EvaluateOptions,
    shape: number[],
    x: Tensor<"float32">,
    targets: Tensor<"float32">,
    weights: Float32Array,
  ): Promise<GradientProgram> {
    const loss = typeof options.loss === "object" ? options.loss : lossByName(options.loss ?? "ce");
    const wantInput = options.wrt?.input ?? false;
    const wantParams = options.wrt?.params ?? false;
    const key = `${loss.name}|${wantInput}|${wantParams}|${shape.join("x")}`;
    let program = this.programs.get(key);
    if (!program) {
      program = this.buildProgram(loss, wantInput, wantParams, shape, x, targets, weights);
      this.programs.set(key, program);
      program.catch(() => this.programs.delete(key));
    }
    return program;
  }

  private async buildProgram(
    loss: Loss,
    wantInput: boolean,
    wantParams: boolean,
    shape: number[],
    x: Tensor<"float32">,
    targets: Tensor<"float32">,
    weights: Float32Array,
  ): Promise<GradientProgram> {
    const { model, ...names } = await this.gradientGraph(loss, { input: wantInput, params: wantParams }, shape, { x, targets, weights });
    return { session: await createSession(model, this.runtime), batch: shape[0], ...names };
  }

  /**
   * The model with the loss appended, for inputs of `shape`: inputs are the model's input,
   * the targets [B, K] ("aegis/targets") and the per-sample weights [B] ("aegis/weights")
   * (and the parameters when trainable); outputs are the model's output and the per-sample
   * and total loss. `sample` (its first rows) runs the shape probe, whose shapes come back
   * for building a backward pass. With `training`, the graph runs as in PyTorch's train()
   * (training-mode.ts) and names the updates of the statistics.
   */
  async lossGraph(
    loss: Loss,
    shape: readonly number[],
    sample: { x: Tensor<"float32">; targets: Tensor<"float32">; weights: Float32Array },
    training?: { seed: number },
  ): Promise<LossGraph> {
    const batch = shape[0];
    const k = this.numClasses;
    const model = cloneModel(this.model);
    const b = new GraphBuilder(model.graph, defaultOpset(model), "loss");
    b.addInput(TARGETS, DataType.FLOAT, [batch, k]);
    b.addInput(WEIGHTS, DataType.FLOAT, [batch]);
    // Without a logits value, log-probabilities stand in: every loss here is shift-invariant.
    const logits = this.logitsName ?? b.op("Log", [b.op("Max", [this.outputName, b.scalar(1e-30)])]);
    const perSample = loss.build(b, { logits, output: this.outputName, targets: TARGETS, numClasses: k });
    const total = b.reduceSum(b.op("Mul", [perSample, WEIGHTS]), undefined, false);
    model.graph.outputs = [{ name: this.outputName, elemType: DataType.FLOAT }];
    b.addOutput(perSample, DataType.FLOAT);
    b.addOutput(total, DataType.FLOAT);

    const n = Math.min(batch, sample.x.shape[0]);
    const probeFeeds: Record<string, Tensor> = {
      ...this.paramFeeds(),
      [this.inputName]: padRows(sliceRows(sample.x, 0, n), batch),
      [TARGETS]: padRows(sliceRows(sample.targets, 0, n), batch),
      [WEIGHTS]: padRows(float32([n], sample.weights.subarray(0, n)), batch),
    };
    const shapes = await probeShapes(model, probeFeeds, this.runtime);
    const statisticUpdates = training ? toTrainingMode(model, shapes, training.seed) : new Map<string, string>();
    return { model, shapes, inputName: this.inputName, lossOut: perSample, totalOut: total, outputOut: this.outputName, statisticUpdates };
  }

  /**
   * lossGraph with the backward pass appended: the requested gradients become outputs too.
   * With `problems`, nodes the gradient cannot pass are collected there instead of thrown
   * (`aegis inspect` names them all).
   */
  async gradientGraph(
    loss: Loss,
    wrt: { input?: boolean; params?: boolean },
    shape: readonly number[],
    sample: { x: Tensor<"float32">; targets: Tensor<"float32">; weights: Float32Array },
    training?: { seed: number },
    problems?: GradientProblem[],
  ): Promise<GradientGraph> {
    const { shapes, ...graph } = await this.gradientGraphWithShapes(loss, wrt, shape, sample, training, problems);
    return graph;
  }

  /** gradientGraph with the probed shapes of the forward values. */
  private async gradientGraphWithShapes(
    loss: Loss,
    wrt: { input?: boolean; params?: boolean },
    shape: readonly number[],
    sample: { x: Tensor<"float32">; targets: Tensor<"float32">; weights: Float32Array },
    training?: { seed: number },
    problems?: GradientProblem[],
  ): Promise<GradientGraph & Pick<LossGraph, "shapes">> {
    const graph = await this.lossGraph(loss, shape, sample, training);
    const { shapes, model } = graph;
    const b = new GraphBuilder(model.graph, defaultOpset(model), "grad_out");
    const names = [...(wrt.input ? [this.inputName] : []), ...(wrt.params ? this.parameters.map((p) => p.name) : [])];
    const paramGradOuts = new Map<string, string>();
    let inputGradOut: string | undefined;
    if (names.length > 0) {
      const grads = appendGradients(model, { seeds: [{ value: graph.totalOut, seed: b.scalar(1) }], wrt: names, shapes, problems });
      for (const [value, grad] of grads) {
        const out = grad === value || model.graph.outputs.some((o) => o.name === grad) ? b.op("Identity", [grad]) : grad;
        b.addOutput(out, DataType.FLOAT);
        if (value === this.inputName) inputGradOut = out;
        else paramGradOuts.set(value, out);
      }
    }
    return { ...graph, inputGradOut, paramGradOuts };
  }

  /** The runtime options the classifier's sessions use (thread count, device). */
  get runtimeOptions(): RuntimeOptions {
    return this.runtime;
  }

  /** The batch size the model's input declares, when it is fixed. */
  get declaredBatch(): number | undefined {
    return this.fixedBatch;
  }
}

/** Zero rows appended up to `rows` (a short last batch; zero weights keep them out of sums). */
export function padRows(t: Tensor<"float32">, rows: number): Tensor<"float32"> {
  const n = t.shape[0];
  if (n === rows) return t;
  const data = new Float32Array(rows * sizeOf(t.shape.slice(1)));
  data.set(t.data);
  return float32([rows, ...t.shape.slice(1)], data);
}

/**
 * Moves the float32 initializers of `model` to graph inputs, as parameters (the weights) and
 * statistics (BatchNormalization's running mean and variance), so runs feed their current values.
 */
function trainableState(model: Model): { parameters: Parameter[]; statistics: Parameter[] } {
  const statisticNames = new Set<string>();
  for (const n of model.graph.nodes) if (n.opType === "BatchNormalization") for (const s of n.inputs.slice(3, 5)) statisticNames.add(s);
  const moved = model.graph.initializers.filter((t) => t.dataType === DataType.FLOAT && t.dims.length > 0);
  const state = (t: TensorValue): Parameter => ({ name: t.name, shape: [...t.dims], value: Float32Array.from(t.data as Float32Array) });
  const names = new Set(moved.map((t) => t.name));
  model.graph.initializers = model.graph.initializers.filter((t) => !names.has(t.name));
  model.graph.inputs = model.graph.inputs.filter((i) => !names.has(i.name));
  for (const t of moved) model.graph.inputs.push({ name: t.name, elemType: DataType.FLOAT, shape: [...t.dims] });
  return {
    parameters: moved.filter((t) => !statisticNames.has(t.name)).map(state),
    statistics: moved.filter((t) => statisticNames.has(t.name)).map(state),
  };
}

/** Prepends (x − mean) / std so gradients are taken with respect to the raw input. */
function prependNormalisation(
  model: Model,
  originalInput: string,
  inputShape: readonly number[],
  p: { mean: number | number[]; std: number | number[] },
): string {
  const graph = model.graph;
  const raw = `${originalInput}/raw`;
  const b = new GraphBuilder(graph, defaultOpset(model), "preprocess");
  const channels = Array.isArray(p.mean) ? p.mean.length : 1;
  if (Array.isArray(p.std) && p.std.length !== channels) throw new AegisError("BAD_OPTION", "mean and std must have the same number of channels");
  // Channels first when the model says so (N, C, …), else last.
  const channelFirst = inputShape.length >= 2 && inputShape[0] === channels;
  const dims = channels === 1 ? [] : channelFirst ? [channels, ...inputShape.slice(1).map(() => 1)] : [channels];
  const values = (v: number | number[]) => Float32Array.from(Array.isArray(v) ? v : [v]);
  const mean = b.initializer(DataType.FLOAT, dims, values(p.mean), "mean");
  const std = b.initializer(DataType.FLOAT, dims, values(p.std), "std");
  const centred = b.op("Sub", [raw, mean]);
  b.node("Div", [centred, std], {}, [originalInput]);
  // The two new nodes were appended; move them to the front (topological order).
  const added = graph.nodes.splice(graph.nodes.length - 2, 2);
  graph.nodes.unshift(...added);
  const inputInfo = graph.inputs.find((i) => i.name === originalInput);
  if (inputInfo) inputInfo.name = raw;
  return raw;
}
