/**
 * The epoch loop every robust trainer runs under `aegis harden`: the engine's train() one
 * epoch at a time, then clean and robust accuracy on a held-out slice (PGD, Madry et al.
 * 2018, so the curve says whether the defence works while it trains), then a checkpoint.
 * A checkpoint holds the weights, the BatchNorm statistics, the optimizer state, the epoch,
 * the seed and the history in one .npz written atomically. Randomness (shuffling, attack starts, noise) is drawn
 * from a generator seeded by (seed, epoch), so the generator state at an epoch boundary
 * is the pair itself: a run killed in epoch e resumes from the checkpoint of epoch e − 1
 * and ends with the same weights, bit for bit, as a run that was never interrupted.
 */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { pgd } from "../../attacks/index.js";
import { encodeNpz, parseNpz } from "../../data/npz.js";
import { createRng } from "../../data/random.js";
import type { LossName } from "../../engine/capabilities.js";
import type { OnnxClassifier } from "../../engine/classifier.js";
import type { Loss } from "../../engine/losses.js";
import type { Optimizer } from "../../engine/optimizers.js";
import { type BatchSampler, type BatchTransform, countCorrect, type EpochStats, type StepFunction, type TrainingData, train } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { float32, type Tensor, tensor } from "../../tensor.js";

/** Robust accuracy under L∞ PGD on a held-out slice, after every epoch. */
export interface RobustEvaluation {
  x: Tensor<"float32">;
  labels: readonly number[];
  eps: number;
  /** Default 2.5·eps/maxIter, as Madry et al. */
  epsStep?: number;
  maxIter: number;
  restarts?: number;
  /** Loss PGD ascends (default "ce"; "margin" sees through a saturated softmax). */
  loss?: LossName;
}

export interface HardeningEpoch extends EpochStats {
  learningRate: number;
  cleanAccuracy?: number;
  robustAccuracy?: number;
  /** Extra per-epoch measurements a trainer adds (e.g. fast-AT's overfitting check). */
  notes?: Record<string, number | boolean>;
  /** The trainer stopped the run after this epoch (and may have rolled its weights back). */
  stopped?: boolean;
}

export type AfterEpoch = (epoch: number, classifier: OnnxClassifier) => Promise<{ notes: Record<string, number | boolean>; stop: boolean }>;

export interface HardeningOptions {
  epochs: number;
  batchSize: number;
  seed: number;
  optimizer: Optimizer;
  /** Learning rate at time t in epochs (0 ≤ t < epochs), applied before every step. */
  learningRate?: (t: number) => number;
  transform?: BatchTransform;
  /** How batches are drawn and how a batch updates the model (DP-SGD's Poisson sampling and noisy step). */
  sampler?: BatchSampler;
  step?: StepFunction;
  loss?: LossName | Loss;
  evaluation?: RobustEvaluation;
  /** Runs after each epoch's evaluation: its notes are kept in the history; `stop` ends the run. */
  afterEpoch?: AfterEpoch;
  checkpointDir?: string;
  /** Continue from the checkpoint in checkpointDir (the settings must be the same). */
  resume?: boolean;
  /** Settings that must match between a checkpoint and the run resuming it. */
  fingerprint?: Record<string, unknown>;
  signal?: AbortSignal;
  onStep?: (info: { epoch: number; step: number; steps: number; loss: number }) => void;
  onEpoch?: (stats: HardeningEpoch) => void;
}

export const CHECKPOINT_FILE = "checkpoint.npz";

/** A 32-bit seed for one (seed, epoch, stream) triple (a murmur3-style finaliser). */
export function epochSeed(seed: number, epoch: number, stream: number): number {
  let h = (seed ^ Math.imul(epoch, 0x9e3779b1) ^ Math.imul(stream, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const SHUFFLE = 1;
const EVALUATION = 2;

export async function runHardening(classifier: OnnxClassifier, data: TrainingData, options: HardeningOptions): Promise<HardeningEpoch[]> {
  if (!Number.isInteger(options.epochs) || options.epochs < 1) throw new AegisError("BAD_OPTION", "--epochs must be a positive integer");
  const history: HardeningEpoch[] = [];
  if (options.resume) {
    if (!options.checkpointDir) throw new AegisError("BAD_OPTION", "--resume needs --checkpoint-dir, the folder the interrupted run wrote its checkpoint to");
    history.push(...loadCheckpoint(classifier, options));
  }
  if (options.checkpointDir) mkdirSync(options.checkpointDir, { recursive: true });
  const steps = Math.ceil(data.x.shape[0] / options.batchSize);
  for (let epoch = history.length + 1; epoch <= options.epochs && !history.at(-1)?.stopped; epoch++) {
    const transform: BatchTransform = async (batch, context) => {
      if (options.learningRate) options.optimizer.learningRate = options.learningRate(epoch - 1 + context.step / steps);
      const real = { ...context, epoch };
      return options.transform ? options.transform(batch, real) : batch;
    };
    const [stats] = await train(classifier, data, {
      epochs: 1,
      batchSize: options.batchSize,
      optimizer: options.optimizer,
      seed: epochSeed(options.seed, epoch, SHUFFLE),
      loss: options.loss,
      transform,
      sampler: options.sampler,
      step: options.step,
      signal: options.signal,
      onStep: (info) => options.onStep?.({ ...info, epoch }),
    }).catch((e: unknown) => {
      throw e instanceof AegisError && e.code === "INTERRUPTED" ? interrupted(options, epoch) : e;
    });
    const record: HardeningEpoch = { ...stats, epoch, learningRate: options.optimizer.learningRate };
    if (options.evaluation)
      Object.assign(record, await evaluateRobustness(classifier, options.evaluation, epochSeed(options.seed, epoch, EVALUATION), options.signal));
    if (options.afterEpoch) {
      const { notes, stop } = await options.afterEpoch(epoch, classifier);
      record.notes = notes;
      if (stop) record.stopped = true;
    }
    if (options.signal?.aborted) throw interrupted(options, epoch);
    history.push(record);
    if (options.checkpointDir) saveCheckpoint(classifier, options, history);
    options.onEpoch?.(record);
  }
  return history;
}

function interrupted(options: HardeningOptions, epoch: number): AegisError {
  const next =
    options.checkpointDir && epoch > 1
      ? `the checkpoint of epoch ${epoch - 1} is in ${options.checkpointDir}; rerun with --resume to continue from it`
      : `no model was written${options.checkpointDir ? " and no epoch had finished" : " (add --checkpoint-dir to make runs resumable)"}`;
  return new AegisError("INTERRUPTED", `training was interrupted in epoch ${epoch}; ${next}`);
}

/** Clean and PGD accuracy of the classifier on a labelled slice. */
export async function evaluateRobustness(
  classifier: OnnxClassifier,
  e: RobustEvaluation,
  seed: number,
  signal?: AbortSignal,
): Promise<{ cleanAccuracy: number; robustAccuracy: number }> {
  const clean = countCorrect(await classifier.predict(e.x), e.labels) / e.labels.length;
  const { x: adv } = await pgd.run(
    classifier,
    e.x,
    e.labels,
    { ...pgd.defaults, eps: e.eps, epsStep: e.epsStep ?? (2.5 * e.eps) / e.maxIter, maxIter: e.maxIter, restarts: e.restarts ?? 1, loss: e.loss ?? "ce" },
    { rng: createRng(seed), signal },
  );
  const robust = countCorrect(await classifier.predict(adv), e.labels) / e.labels.length;
  return { cleanAccuracy: clean, robustAccuracy: robust };
}

function saveCheckpoint(classifier: OnnxClassifier, options: HardeningOptions, history: HardeningEpoch[]): void {
  const state = options.optimizer.exportState();
  const arrays: Record<string, Tensor> = {};
  for (const p of classifier.parameters) arrays[`param/${p.name}`] = float32(p.shape, p.value);
  for (const s of classifier.statistics) arrays[`statistic/${s.name}`] = float32(s.shape, s.value);
  for (const [key, buffer] of Object.entries(state.buffers)) arrays[`optimizer/${key}`] = float32([buffer.length], buffer);
  const meta = {
    version: 1,
    epoch: history.length,
    seed: options.seed,
    optimizer: { name: options.optimizer.name, step: state.step, learningRate: options.optimizer.learningRate },
    fingerprint: options.fingerprint ?? {},
    history,
  };
  const json = new TextEncoder().encode(JSON.stringify(meta));
  arrays.meta = tensor("uint8", [json.length], json);
  writeFileAtomic(join(options.checkpointDir as string, CHECKPOINT_FILE), encodeNpz(arrays));
}

function loadCheckpoint(classifier: OnnxClassifier, options: HardeningOptions): HardeningEpoch[] {
  const path = join(options.checkpointDir as string, CHECKPOINT_FILE);
  if (!existsSync(path))
    throw new AegisError("FILE_NOT_FOUND", `no checkpoint at ${path}; start without --resume, or point --checkpoint-dir at the folder of the interrupted run`);
  const arrays = parseNpz(readFileSync(path), path);
  const metaBytes = arrays.get("meta");
  if (!metaBytes) throw new AegisError("BAD_DATA", `${path} is not an Aegis checkpoint (no "meta" entry); start without --resume`);
  const meta = JSON.parse(new TextDecoder().decode(metaBytes.data as Uint8Array)) as {
    seed: number;
    optimizer: { name: string; step: number; learningRate: number };
    fingerprint: Record<string, unknown>;
    history: HardeningEpoch[];
  };
  const wanted = JSON.stringify({ seed: options.seed, optimizer: options.optimizer.name, ...(options.fingerprint ?? {}) });
  const found = JSON.stringify({ seed: meta.seed, optimizer: meta.optimizer.name, ...meta.fingerprint });
  if (wanted !== found) {
    throw new AegisError(
      "BAD_OPTION",
      `the checkpoint in ${options.checkpointDir} was written with other settings (${found}); resume with the same options or use a new --checkpoint-dir`,
    );
  }
  for (const p of classifier.parameters) {
    const saved = arrays.get(`param/${p.name}`);
    if (!saved || saved.data.length !== p.value.length)
      throw new AegisError("SHAPE_MISMATCH", `the checkpoint has no weights of the right size for "${p.name}"; it belongs to another model`);
    p.value.set(saved.data as Float32Array);
  }
  for (const s of classifier.statistics) {
    const saved = arrays.get(`statistic/${s.name}`);
    if (saved?.data.length !== s.value.length)
      throw new AegisError("SHAPE_MISMATCH", `the checkpoint has no running statistic "${s.name}"; it belongs to another model`);
    s.value.set(saved.data as Float32Array);
  }
  const buffers: Record<string, Float32Array> = {};
  for (const [key, t] of arrays) if (key.startsWith("optimizer/")) buffers[key.slice("optimizer/".length)] = Float32Array.from(t.data as Float32Array);
  options.optimizer.importState({ step: meta.optimizer.step, buffers });
  options.optimizer.learningRate = meta.optimizer.learningRate;
  return meta.history;
}
