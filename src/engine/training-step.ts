/**
 * One training step as one ONNX Runtime run: forward pass in training mode (training-mode.ts),
 * loss, backward pass and the optimizer's update, with the parameters, the BatchNorm
 * statistics and the optimizer's state going in and their new values coming out. Nothing per parameter crosses into JavaScript: the run reads the
 * current arrays in place and writes the new values into a second set of arrays, which
 * then become current (double buffering, since a run must not write what it reads).
 *
 * Measured on the MNIST CNN (batch 128, 2 threads) against the loop it replaces — gradients
 * copied out, accumulated, and Adam in TypeScript — see the engine section of the README.
 * A short last batch is padded with zero-weight rows to the first batch's size, except in
 * models with BatchNorm, whose batch statistics must not see padding: those get a program
 * for that shape too. Programs are released with the classifier.
 */
import { GraphBuilder } from "../onnx/builder.js";
import { DataType, defaultOpset } from "../onnx/ir.js";
import { float32, type Tensor } from "../tensor.js";
import { type OnnxClassifier, padRows, TARGETS, WEIGHTS } from "./classifier.js";
import type { Loss } from "./losses.js";
import type { Optimizer } from "./optimizers.js";
import { createSession, type Session } from "./runtime.js";

export interface StepBatch {
  x: Tensor<"float32">;
  /** Targets [B, K]: one-hot or soft labels. */
  targets: Tensor<"float32">;
  /** Per-sample weights of the summed loss. */
  weights: Float32Array;
}

export interface StepResult {
  /** Per-sample loss [B]. */
  loss: Float32Array;
  /** Weighted sum of the per-sample losses (before the update). */
  total: number;
  /** The model's outputs [B, K] before the update. */
  output: Tensor<"float32">;
}

interface Updated {
  name: string;
  /** Graph output holding the new value. */
  value: string;
  /** Graph inputs and outputs of the optimizer's slots. */
  slotInputs: string[];
  slotOutputs: string[];
}

interface Program {
  session: Session;
  inputName: string;
  lossOut: string;
  totalOut: string;
  outputOut: string;
  scalarInputs: Record<string, string>;
  updated: Updated[];
  /** Graph output of each statistic's update. */
  statisticUpdates: Map<string, string>;
}

/** The arrays a step's run writes into; after the run they are swapped with the current ones. */
class SpareArrays {
  private readonly spares = new Map<string, Float32Array>();

  take(key: string, current: Float32Array): Float32Array {
    const spare = this.spares.get(key);
    return spare && spare.length === current.length && spare !== current ? spare : new Float32Array(current.length);
  }

  give(key: string, array: Float32Array): void {
    this.spares.set(key, array);
  }
}

class TrainingStep {
  private readonly programs = new Map<string, Promise<Program>>();
  private readonly spares = new SpareArrays();
  /** Rows of the first batch: a shorter batch is padded to them unless batch statistics would see the padding. */
  private fullRows: number | undefined;

  constructor(
    private readonly classifier: OnnxClassifier,
    private readonly loss: Loss,
    private readonly optimizer: Optimizer,
    private readonly seed: number,
  ) {}

  async run(batch: StepBatch, optimizer: Optimizer): Promise<StepResult> {
    const n = batch.x.shape[0];
    this.fullRows ??= n;
    const pad = this.classifier.statistics.length === 0 && n < this.fullRows;
    const rows = this.classifier.declaredBatch ?? (pad ? this.fullRows : n);
    const shape = [rows, ...batch.x.shape.slice(1)];
    const program = await this.program(shape, batch);
    const scalars = optimizer.graph.begin();
    const feeds: Record<string, Tensor> = {
      ...this.classifier.paramFeeds(),
      [program.inputName]: padRows(batch.x, rows),
      [TARGETS]: padRows(batch.targets, rows),
      [WEIGHTS]: padRows(float32([n], batch.weights), rows),
    };
    for (const [scalar, input] of Object.entries(program.scalarInputs)) feeds[input] = float32([], [scalars[scalar]]);
    const into: Record<string, Tensor> = {};
    const parameters = new Map(this.classifier.parameters.map((p) => [p.name, p]));
    const next: { apply: () => void }[] = [];
    for (const u of program.updated) {
      const p = parameters.get(u.name) as (typeof this.classifier.parameters)[number];
      const slots = optimizer.graph.buffers(p.name, p.value.length);
      const value = this.spares.take(u.value, p.value);
      into[u.value] = float32(p.shape, value);
      const nextSlots = slots.map((current, i) => {
        feeds[u.slotInputs[i]] = float32(p.shape, current);
        const spare = this.spares.take(u.slotOutputs[i], current);
        into[u.slotOutputs[i]] = float32(p.shape, spare);
        return spare;
      });
      next.push({
        apply: () => {
          this.spares.give(u.value, p.value);
          p.value = value;
          for (const [i, old] of slots.entries()) this.spares.give(u.slotOutputs[i], old);
          optimizer.graph.replace(p.name, nextSlots);
        },
      });
    }
    for (const s of this.classifier.statistics) {
      const out = program.statisticUpdates.get(s.name);
      if (!out) continue;
      const value = this.spares.take(out, s.value);
      into[out] = float32(s.shape, value);
      next.push({
        apply: () => {
          this.spares.give(out, s.value);
          s.value = value;
        },
      });
    }
    const result = await program.session.run(feeds, [program.lossOut, program.totalOut, program.outputOut, ...Object.keys(into)], into);
    for (const u of next) u.apply();
    const k = this.classifier.numClasses;
    return {
      loss: (result[program.lossOut].data as Float32Array).slice(0, n),
      total: (result[program.totalOut].data as Float32Array)[0],
      output: float32([n, k], (result[program.outputOut].data as Float32Array).slice(0, n * k)),
    };
  }

  async release(): Promise<void> {
    const programs = [...this.programs.values()];
    this.programs.clear();
    for (const p of programs) await (await p).session.release();
  }

  private program(shape: number[], sample: StepBatch): Promise<Program> {
    const key = shape.join("x");
    let program = this.programs.get(key);
    if (!program) {
      program = this.build(shape, sample);
      this.programs.set(key, program);
      program.catch(() => this.programs.delete(key));
    }
    return program;
  }

  private async build(shape: number[], sample: StepBatch): Promise<Program> {
    const { model, paramGradOuts, statisticUpdates, ...names } = await this.classifier.gradientGraph(this.loss, { params: true }, shape, sample, {
      seed: this.seed,
    });
    const update = this.optimizer.graph;
    const b = new GraphBuilder(model.graph, defaultOpset(model), "update");
    // The gradients stay inside the run.
    const gradOutputs = new Set(paramGradOuts.values());
    model.graph.outputs = model.graph.outputs.filter((o) => !gradOutputs.has(o.name));
    const scalarInputs: Record<string, string> = {};
    for (const scalar of update.scalars) {
      scalarInputs[scalar] = `aegis/optimizer/${scalar}`;
      b.addInput(scalarInputs[scalar], DataType.FLOAT, []);
    }
    const updated: Updated[] = [];
    for (const p of this.classifier.parameters) {
      const grad = paramGradOuts.get(p.name) as string;
      const slotInputs = update.slots.map((slot) => `${p.name}/${slot}`);
      for (const input of slotInputs) b.addInput(input, DataType.FLOAT, [...p.shape]);
      const out = update.append(b, { value: p.name, grad, slots: slotInputs, scalars: scalarInputs });
      for (const o of [out.value, ...out.slots]) b.addOutput(o, DataType.FLOAT, [...p.shape]);
      updated.push({ name: p.name, value: out.value, slotInputs, slotOutputs: out.slots });
    }
    for (const update of statisticUpdates.values()) b.addOutput(update, DataType.FLOAT);
    const session = await createSession(model, this.classifier.runtimeOptions);
    return { session, scalarInputs, updated, statisticUpdates, ...names };
  }
}

/**
 * Runs one step on `classifier` (created with `trainable: true`) in training mode: updates its
 * parameters, its statistics and the optimizer's state, and returns the loss and outputs the
 * step saw. `seed` seeds the Dropout masks when the step's graph is first built; the masks
 * then go on from run to run, so later calls (a trainer's next epoch, with its own seed)
 * reuse the built graph instead of building another.
 */
export async function trainingStep(classifier: OnnxClassifier, batch: StepBatch, optimizer: Optimizer, loss: Loss, seed = 0): Promise<StepResult> {
  const key = `training-step|${loss.name}|${optimizer.graph.key}`;
  const step = await classifier.attach(key, async () => new TrainingStep(classifier, loss, optimizer, seed));
  return step.run(batch, optimizer);
}
