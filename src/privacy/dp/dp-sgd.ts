/**
 * DP-SGD — Abadi, Chu, Goodfellow, McMahan, Mironov, Talwar & Zhang, "Deep Learning with
 * Differential Privacy", CCS 2016: every step takes a batch by Poisson sampling (each example
 * independently with probability q, so the accountants' subsampled-Gaussian analysis holds),
 * clips each example's gradient gᵢ to norm C, adds N(0, σ²C²) to their sum, and feeds the
 * optimizer (Σᵢ gᵢ·min(1, C/‖gᵢ‖) + N(0, σ²C²I)) / (qN).
 *
 * - The divisor is the expected batch size qN, not the batch's actual size, as Opacus does
 *   (its issue #420): the actual size depends on who is in the data, so dividing by it would
 *   leak membership past the noise. The optimizer therefore sees a noisier mean on small
 *   batches, and the learning rate means what it means in ordinary training on average.
 * - The clipped sum comes from the engine's per-example gradients in one ONNX Runtime run
 *   per batch (engine/per-example.ts, ghost norms and the book-keeping trick), never from
 *   batch-size-1 loops; every run is padded to the same row count so one graph serves
 *   Poisson batches of any size (a larger batch takes two runs).
 * - An epoch is round(1/q) steps, so an epoch sees N examples on average.
 * - Noise and sampling draw from AES-CTR (secure-random.ts), never from the training seed.
 * - Models with BatchNorm are refused: in training mode it normalises by statistics of the
 *   whole batch, so one example's gradient depends on the others and clipping it bounds
 *   nothing. Dropout runs in inference mode (off) in the per-example graph.
 */
import {
  type BatchSampler,
  type BatchTransform,
  type EpochStats,
  type LossName,
  type OnnxClassifier,
  type Optimizer,
  perExampleGradients,
  type StepFunction,
  type TrainingData,
  train,
} from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { type AccountantName, type AccountingOptions, noiseMultiplierFor, PrivacyAccountant } from "./accountant.js";
import { SecureRandom } from "./secure-random.js";

export interface DpSgdSettings {
  /** σ: the noise's standard deviation is σ·C (or give targetEpsilon). */
  noiseMultiplier?: number;
  /** Solve for σ so that the whole run spends this ε at δ. */
  targetEpsilon?: number;
  /** C: each example's gradient is clipped to this L2 norm. */
  maxGradNorm: number;
  delta: number;
  accountant?: AccountantName;
  /** Expected batch size qN. */
  batchSize: number;
  epochs: number;
  /** Reproducible noise and sampling, for tests and audits only: a released model must not have it. */
  noiseSeed?: number;
}

/** What a DP-SGD run is, once its σ is known: what the model's metadata records. */
export interface DpSgdPlan {
  noiseMultiplier: number;
  maxGradNorm: number;
  samplingRate: number;
  stepsPerEpoch: number;
  steps: number;
  delta: number;
  accountant: AccountantName;
  /** ε the whole run spends at δ. */
  epsilon: number;
  /** Noise and sampling come from settings.noiseSeed (tests and audits only). */
  noiseSeeded: boolean;
}

/** The plan of a run over n examples: q = batch/n, round(1/q) steps per epoch, σ given or solved for. */
export function planDpSgd(n: number, s: DpSgdSettings): DpSgdPlan {
  if (!(s.maxGradNorm > 0)) throw new AegisError("BAD_OPTION", `--max-grad-norm must be positive, not ${s.maxGradNorm}`);
  if (!(s.delta > 0 && s.delta < 1)) throw new AegisError("BAD_OPTION", `--delta must be in (0, 1), not ${s.delta}`);
  if (s.delta >= 1 / n) {
    throw new AegisError(
      "BAD_OPTION",
      `--delta ${s.delta} is not below 1/n = ${(1 / n).toPrecision(3)} for ${n} examples: such a δ allows releasing some examples outright; use 1e-5 or below`,
    );
  }
  if (!(Number.isInteger(s.batchSize) && s.batchSize >= 1 && s.batchSize <= n))
    throw new AegisError("BAD_OPTION", `the expected batch size must be an integer in 1..${n}, not ${s.batchSize}`);
  if ((s.noiseMultiplier === undefined) === (s.targetEpsilon === undefined))
    throw new AegisError("BAD_OPTION", "give either --noise-multiplier σ or --target-epsilon ε (which solves for σ), not both or neither");
  const accountant = s.accountant ?? "rdp";
  const samplingRate = s.batchSize / n;
  const stepsPerEpoch = Math.max(1, Math.round(1 / samplingRate));
  const steps = stepsPerEpoch * s.epochs;
  const options: AccountingOptions = { accountant };
  const noiseMultiplier = s.noiseMultiplier ?? noiseMultiplierFor({ targetEpsilon: s.targetEpsilon as number, delta: s.delta, samplingRate, steps }, options);
  if (!(noiseMultiplier >= 0)) throw new AegisError("BAD_OPTION", `--noise-multiplier must be ≥ 0, not ${noiseMultiplier}`);
  const accounting = new PrivacyAccountant(options);
  accounting.step(noiseMultiplier, samplingRate, steps);
  const { epsilon } = accounting.spent(s.delta);
  const noiseSeeded = s.noiseSeed !== undefined;
  return { noiseMultiplier, maxGradNorm: s.maxGradNorm, samplingRate, stepsPerEpoch, steps, delta: s.delta, accountant, epsilon, noiseSeeded };
}

/** What a DP-SGD run will do, before it starts. */
export function describePlan(plan: DpSgdPlan, n: number, targetEpsilon?: number): string {
  const sigma = `σ ${Number(plan.noiseMultiplier.toPrecision(4))}${targetEpsilon === undefined ? "" : ` (solved for ε = ${targetEpsilon})`}`;
  const batch = Math.round(plan.samplingRate * n);
  return `DP-SGD: ${sigma} · C ${plan.maxGradNorm} · Poisson sampling q = ${Number(plan.samplingRate.toPrecision(3))} (expected batch ${batch} of ${n.toLocaleString("en-US")}) · ${plan.stepsPerEpoch} steps per epoch · δ ${plan.delta} · ${plan.accountant} accountant; each update is the noisy clipped sum divided by the expected batch size ${batch}; the whole run spends ε = ${plan.epsilon.toFixed(3)}`;
}

/** Poisson sampling: each of `steps` batches holds every row independently with probability q, in random order. */
export function poissonSampler(samplingRate: number, steps: number, random: SecureRandom): BatchSampler {
  return (n) =>
    Array.from({ length: steps }, () => {
      const rows: number[] = [];
      for (let i = 0; i < n; i++) if (random.uniform() < samplingRate) rows.push(i);
      // Shuffled, so transforms that treat "the first rows" as a random share of the batch stay right.
      for (let i = rows.length - 1; i > 0; i--) {
        const j = Math.floor(random.uniform() * (i + 1));
        [rows[i], rows[j]] = [rows[j], rows[i]];
      }
      return rows;
    });
}

/**
 * The DP-SGD update as the trainer's step: clipped sum from the per-example run, Gaussian
 * noise of standard deviation σC, divided by the expected batch size, then the optimizer.
 * `noiseScale` multiplies the noise actually added (1; 0 only for the audit's broken-DP test).
 */
export function dpSgdStep(
  plan: Pick<DpSgdPlan, "noiseMultiplier" | "maxGradNorm">,
  expectedBatch: number,
  random: SecureRandom,
  options: { rows?: number; noiseScale?: number } = {},
): StepFunction {
  const std = plan.noiseMultiplier * plan.maxGradNorm * (options.noiseScale ?? 1);
  return async (classifier, batch, optimizer, loss) => {
    const n = batch.x.shape[0];
    const rows = options.rows ?? rowsPerRun(expectedBatch);
    const result = n > 0 ? await perExampleGradients(classifier, batch.x, batch.targets, { loss, clipNorm: plan.maxGradNorm, rows }) : undefined;
    const grads = new Map<string, Float32Array>();
    for (const p of classifier.parameters) {
      const g = result?.clippedSum?.get(p.name) ?? new Float32Array(p.value.length);
      random.addNormal(g, std);
      for (let i = 0; i < g.length; i++) g[i] /= expectedBatch;
      grads.set(p.name, g);
    }
    optimizer.step(classifier.parameters, grads);
    const losses = result?.loss ?? new Float32Array(0);
    return {
      loss: losses,
      total: losses.reduce((a, b) => a + b, 0) / Math.max(1, n),
      output: result?.output ?? batch.x,
    };
  };
}

/** Rows per run for an expected batch B: B + 2√B rounded up to a multiple of 8 (one run for 97.7% of Poisson batches). */
export function rowsPerRun(expectedBatch: number): number {
  return Math.ceil((expectedBatch + 2 * Math.sqrt(expectedBatch)) / 8) * 8;
}

/** Refuses a classifier with BatchNorm, naming its layers. */
export function refuseBatchNorm(classifier: OnnxClassifier): void {
  const layers = [...new Set(classifier.statistics.map((s) => s.name.replace(/[._/:]?(running_mean|running_var|moving_mean|moving_variance|mean|var)$/i, "")))];
  if (layers.length === 0) return;
  const shown = layers.length > 5 ? `${layers.slice(0, 5).join(", ")} and ${layers.length - 5} more` : layers.join(", ");
  throw new AegisError(
    "UNSUPPORTED",
    `DP-SGD cannot train this model: its BatchNorm layers (${shown}) normalise each example by statistics of the whole batch, so no example's gradient is its own and clipping it bounds nothing. Replace BatchNorm by GroupNorm (torch.nn.GroupNorm; or LayerNorm) and train that architecture with --like, or use --arch cnn or mlp`,
  );
}

/** A DP-SGD run's pieces for the engine's training loop (train() or the hardening loop). */
export interface DpSgdRun {
  plan: DpSgdPlan;
  sampler: BatchSampler;
  step: StepFunction;
  /** ε spent at δ after this many epochs. */
  epsilonAfter(epochs: number): number;
}

/**
 * Plans a run over n examples and builds its sampler and step. `noiseScale` multiplies the
 * noise actually added: 1 always, except 0 in the audit's test of a deliberately broken DP-SGD.
 */
export function prepareDpSgd(classifier: OnnxClassifier, n: number, settings: DpSgdSettings, options: { noiseScale?: number } = {}): DpSgdRun {
  refuseBatchNorm(classifier);
  const plan = planDpSgd(n, settings);
  const random = settings.noiseSeed === undefined ? SecureRandom.fromEntropy() : SecureRandom.fromSeed(settings.noiseSeed);
  return {
    plan,
    sampler: poissonSampler(plan.samplingRate, plan.stepsPerEpoch, random),
    step: dpSgdStep(plan, plan.samplingRate * n, random, { noiseScale: options.noiseScale }),
    epsilonAfter(epochs) {
      const accountant = new PrivacyAccountant({ accountant: plan.accountant });
      accountant.step(plan.noiseMultiplier, plan.samplingRate, epochs * plan.stepsPerEpoch);
      return accountant.spent(plan.delta).epsilon;
    },
  };
}

export interface DpEpochStats extends EpochStats {
  /** ε spent at δ so far. */
  epsilon: number;
}

export interface DpTrainOptions {
  optimizer: Optimizer;
  seed?: number;
  loss?: LossName;
  transform?: BatchTransform;
  validation?: { x: TrainingData["x"]; labels: readonly number[] };
  /** Called once σ is known, before the first step. */
  onPlan?: (plan: DpSgdPlan) => void;
  onStep?: (info: { epoch: number; step: number; steps: number; loss: number }) => void;
  onEpoch?: (stats: DpEpochStats) => void;
  signal?: AbortSignal;
  /** 1 always; 0 only to test that the audit catches a DP-SGD that adds no noise. */
  noiseScale?: number;
}

/** Trains `classifier` (created with trainable: true) with DP-SGD; ε after every epoch in the history. */
export async function trainDpSgd(
  classifier: OnnxClassifier,
  data: TrainingData,
  settings: DpSgdSettings,
  options: DpTrainOptions,
): Promise<{ plan: DpSgdPlan; history: DpEpochStats[] }> {
  const run = prepareDpSgd(classifier, data.x.shape[0], settings, { noiseScale: options.noiseScale });
  options.onPlan?.(run.plan);
  const history: DpEpochStats[] = [];
  await train(classifier, data, {
    epochs: settings.epochs,
    batchSize: settings.batchSize,
    optimizer: options.optimizer,
    seed: options.seed,
    loss: options.loss,
    transform: options.transform,
    validation: options.validation,
    onStep: options.onStep,
    signal: options.signal,
    sampler: run.sampler,
    step: run.step,
    onEpoch: (stats) => {
      const epoch = { ...stats, epsilon: run.epsilonAfter(stats.epoch) };
      history.push(epoch);
      options.onEpoch?.(epoch);
    },
  });
  return { plan: run.plan, history };
}
