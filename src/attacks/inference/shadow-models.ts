/**
 * Shadow (reference) models: models trained the way the target was, on data the attacker
 * chooses, so that the attacker knows what membership does to a model's outputs (Shokri et
 * al. 2017 introduced them; LiRA and RMIA use them as reference models). They are the slow
 * part of every strong membership attack, so:
 *
 * - one model is a plain function of (config, seed, training set) → ONNX bytes
 *   (`trainShadowModel`), which runs anywhere: in this process, in a worker thread, or on
 *   another machine;
 * - a plan says which rows of the attacker's pool each model trains on: offline plans use
 *   reference data only; online plans put every candidate sample in exactly half of the
 *   models (as Carlini et al. 2022's experiments do), the rest filled from reference data;
 * - `trainShadowModels` runs a plan over worker threads, writes each finished model into a
 *   checkpoint folder atomically, and reuses the models a previous run of the same plan
 *   finished: an interrupted run continues where it stopped.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createRng } from "../../data/random.js";
import { type Architecture, buildArchitecture } from "../../engine/architectures.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { adam, sgd } from "../../engine/optimizers.js";
import { reinitialise } from "../../engine/reinitialise.js";
import { type BatchTransform, train } from "../../engine/trainer.js";
import { AegisError, isAegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { decodeModel, encodeModel } from "../../onnx/proto.js";
import { type Progress, silentProgress } from "../../progress.js";
import { imageLayout } from "../../report/images.js";
import { float32 } from "../../tensor.js";
import { startWorker } from "../../threads.js";
import { type LabelledData, moveImage, sampleRows } from "./observations.js";

/** How the target was trained, which its shadow models repeat. */
export interface ShadowTraining {
  epochs: number;
  batchSize: number;
  optimizer: "adam" | "sgd";
  lr: number;
  /** SGD momentum. */
  momentum: number;
  /** L2 weight decay. */
  weightDecay: number;
  /** Random shifts of up to one pixel and, with "flip-shift", mirroring of the training images (the usual augmentation). */
  augment: "none" | "shift" | "flip-shift";
}

/** One of Aegis's architectures, or a model (ONNX bytes, e.g. the target itself) whose architecture is re-initialised. */
export type ShadowArchitecture = { arch: Architecture } | { like: Uint8Array };

export interface ShadowConfig {
  architecture: ShadowArchitecture;
  numClasses: number;
  training: ShadowTraining;
  /** ONNX Runtime intra-op threads per model (0: one per core); workers should use 1. */
  threads?: number;
}

export const DEFAULT_SHADOW_TRAINING: ShadowTraining = {
  epochs: 20,
  batchSize: 64,
  optimizer: "adam",
  lr: 1e-3,
  momentum: 0.9,
  weightDecay: 0,
  augment: "none",
};

export interface ShadowPlan {
  /** Per model, its seed and the rows of the pool it trains on. */
  models: { seed: number; rows: number[] }[];
  /** The first `candidates` rows of the pool are the samples under attack; the rest is reference data. */
  candidates: number;
  online: boolean;
}

export interface PlanOptions {
  count: number;
  /** Samples per shadow model: the target's training-set size. */
  trainSize: number;
  candidates: number;
  poolSize: number;
  online: boolean;
  seed: number;
}

/**
 * Which pool rows each shadow model trains on. Offline: `trainSize` random reference rows.
 * Online: each candidate in exactly half of the models (rounded down when the count is
 * odd), each model topped up to `trainSize` with random reference rows.
 */
export function planShadowModels(o: PlanOptions): ShadowPlan {
  if (!Number.isInteger(o.count) || o.count < 1) throw new AegisError("BAD_OPTION", `the number of shadow models must be a positive integer, not ${o.count}`);
  if (o.online && o.count < 2) throw new AegisError("BAD_OPTION", "online attacks need at least 2 shadow models: one with each sample and one without");
  const reference = o.poolSize - o.candidates;
  const rng = createRng(o.seed);
  const rows: number[][] = Array.from({ length: o.count }, () => []);
  if (o.online) {
    const half = Math.floor(o.count / 2);
    const models = Array.from({ length: o.count }, (_, j) => j);
    // Random halves, each drawn from the models with the fewest candidates so far, so every model gets the same share (±1).
    for (let i = 0; i < o.candidates; i++)
      for (const j of rng
        .shuffle(models)
        .sort((a, b) => rows[a].length - rows[b].length)
        .slice(0, half))
        rows[j].push(i);
    const most = Math.max(...rows.map((r) => r.length));
    if (most > o.trainSize)
      throw new AegisError(
        "BAD_OPTION",
        `online attacks train each shadow model on up to ${most} of the ${o.candidates} candidate samples, more than the ${o.trainSize} samples the target trained on; attack at most ${Math.floor((o.trainSize * o.count) / half)} samples, or use the offline attacks`,
      );
  }
  const fill = Math.max(0, ...rows.map((r) => o.trainSize - r.length));
  if (fill > reference)
    throw new AegisError(
      "BAD_DATA",
      `each shadow model trains on ${o.trainSize} samples but the reference data has only ${reference}; give more reference data or a smaller training-set size`,
    );
  const referenceRows = Array.from({ length: reference }, (_, i) => o.candidates + i);
  const models = rows.map((own, j) => {
    const topUp = rng.shuffle(referenceRows).slice(0, o.trainSize - own.length);
    return { seed: o.seed * 1000 + j + 1, rows: [...own, ...topUp].sort((a, b) => a - b) };
  });
  return { models, candidates: o.candidates, online: o.online };
}

/** Whether shadow model `model` trained on pool row `row`. */
export function trainedOn(plan: ShadowPlan, model: number, row: number): boolean {
  const rows = plan.models[model].rows;
  let lo = 0;
  let hi = rows.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid] === row) return true;
    if (rows[mid] < row) lo = mid + 1;
    else hi = mid - 1;
  }
  return false;
}

export interface TrainOneOptions {
  signal?: AbortSignal;
  onEpoch?: (epoch: number) => void;
}

/** Trains one shadow model from scratch on `data`; returns it as ONNX bytes. */
export async function trainShadowModel(config: ShadowConfig, seed: number, data: LabelledData, options: TrainOneOptions = {}): Promise<Uint8Array> {
  const sampleShape = data.x.shape.slice(1);
  const model =
    "arch" in config.architecture
      ? buildArchitecture(config.architecture.arch, { inputShape: sampleShape, numClasses: config.numClasses, seed })
      : reinitialise(decodeModel(config.architecture.like), seed).model;
  const t = config.training;
  const classifier = await OnnxClassifier.create(model, { trainable: true, threads: config.threads, batchSize: t.batchSize });
  try {
    const optimizer =
      t.optimizer === "adam" ? adam({ lr: t.lr, weightDecay: t.weightDecay }) : sgd({ lr: t.lr, momentum: t.momentum, weightDecay: t.weightDecay });
    await train(
      classifier,
      { x: data.x, labels: data.labels },
      {
        epochs: t.epochs,
        batchSize: t.batchSize,
        optimizer,
        seed,
        signal: options.signal,
        transform: t.augment === "none" ? undefined : randomMoves(sampleShape, t.augment === "flip-shift"),
        onEpoch: (stats) => options.onEpoch?.(stats.epoch),
      },
    );
    return encodeModel(classifier.exportModel());
  } finally {
    await classifier.release();
  }
}

/** Each training image shifted by up to one pixel each way, and mirrored half the time when `flip`. */
function randomMoves(sampleShape: readonly number[], flip: boolean): BatchTransform {
  const layout = imageLayout(sampleShape);
  if (!layout)
    throw new AegisError("BAD_OPTION", `training augmentation shifts images, but the samples have shape [${sampleShape.join(", ")}]; train without it`);
  return async (batch, { rng }) => {
    const out = new Float32Array(batch.x.data.length);
    for (let i = 0; i < batch.x.shape[0]; i++)
      moveImage(batch.x.data, out, i, layout, { dx: rng.int(3) - 1, dy: rng.int(3) - 1, flip: flip && rng.next() < 0.5 });
    return { ...batch, x: float32(batch.x.shape, out) };
  };
}

/**
 * Trains the plan's `pending` models somewhere else (campaigns/: on `aegis worker` processes),
 * calling `finish` with each one's ONNX bytes as it arrives and `onEpoch` for each epoch done.
 */
export type ShadowTrainer = (
  config: ShadowConfig,
  plan: ShadowPlan,
  pool: LabelledData,
  pending: readonly number[],
  hooks: ShadowTrainerHooks,
) => Promise<void>;

export interface ShadowTrainerHooks {
  signal?: AbortSignal;
  onEpoch: () => void;
  finish: (index: number, bytes: Uint8Array) => void;
}

export interface ShadowRunOptions {
  /** Models trained at once, each in its own worker thread (default 1: in this thread). */
  workers?: number;
  /** Trains the models elsewhere instead of in this process (`workers` is then unused). */
  trainer?: ShadowTrainer;
  /** Folder for finished models; a later run of the same plan reuses them. */
  checkpointDir?: string;
  signal?: AbortSignal;
  progress?: Progress;
  log?: (message: string) => void;
}

const MANIFEST = "manifest.json";
const modelFile = (i: number) => `shadow-${String(i).padStart(3, "0")}.onnx`;

/**
 * Trains every model of `plan` on rows of `pool` (ONNX bytes, in plan order), reusing the
 * finished models of an earlier run with the same configuration, plan and pool.
 */
export async function trainShadowModels(config: ShadowConfig, plan: ShadowPlan, pool: LabelledData, options: ShadowRunOptions = {}): Promise<Uint8Array[]> {
  const dir = options.checkpointDir;
  const models: (Uint8Array | undefined)[] = plan.models.map(() => undefined);
  if (dir) {
    const fingerprint = shadowFingerprint(config, plan, pool);
    openCheckpoint(dir, fingerprint, plan.models.length);
    for (const i of models.keys()) if (existsSync(join(dir, modelFile(i)))) models[i] = readFileSync(join(dir, modelFile(i)));
    const reused = models.filter(Boolean).length;
    if (reused > 0) options.log?.(`reusing ${reused} of ${plan.models.length} shadow models finished earlier in ${dir}`);
  }
  const pending = [...models.keys()].filter((i) => !models[i]);
  if (pending.length === 0) return models as Uint8Array[];
  const epochs = config.training.epochs;
  const bar = (options.progress ?? silentProgress)("shadow models", pending.length * epochs);
  let epochsDone = 0;
  const onEpoch = () => bar.update(++epochsDone, `${models.filter(Boolean).length}/${plan.models.length} models`);
  const finish = (i: number, bytes: Uint8Array) => {
    models[i] = bytes;
    if (dir) writeFileAtomic(join(dir, modelFile(i)), bytes);
  };
  try {
    const workers = Math.min(options.workers ?? 1, pending.length);
    if (options.trainer) await options.trainer(config, plan, pool, pending, { signal: options.signal, onEpoch, finish });
    else if (workers <= 1) {
      for (const i of pending) {
        const { seed, rows } = plan.models[i];
        finish(i, await trainShadowModel(config, seed, sampleRows(pool, rows), { signal: options.signal, onEpoch }));
      }
    } else await trainInWorkers(config, plan, pool, pending, workers, { signal: options.signal, onEpoch, finish });
  } catch (e) {
    if (isAegisError(e) && e.code === "INTERRUPTED") {
      const kept = models.filter(Boolean).length;
      throw new AegisError(
        "INTERRUPTED",
        dir
          ? `interrupted: ${kept} of ${plan.models.length} shadow models are finished and kept in ${dir}; run the same command again to continue from them`
          : `interrupted after ${kept} of ${plan.models.length} shadow models (give a checkpoint folder to keep them)`,
      );
    }
    throw e;
  } finally {
    bar.stop();
  }
  return models as Uint8Array[];
}

/** Identifies a plan's models: the configuration, every model's seed and rows, and the pool's contents. */
export function shadowFingerprint(config: ShadowConfig, plan: ShadowPlan, pool: LabelledData): string {
  const hash = createHash("sha256");
  const architecture = "arch" in config.architecture ? config.architecture.arch : createHash("sha256").update(config.architecture.like).digest("hex");
  hash.update(JSON.stringify({ version: 1, architecture, numClasses: config.numClasses, training: config.training, models: plan.models }));
  hash.update(new Uint8Array(pool.x.data.buffer, pool.x.data.byteOffset, pool.x.data.byteLength));
  hash.update(new Uint8Array(Int32Array.from(pool.labels).buffer));
  return hash.digest("hex");
}

function openCheckpoint(dir: string, fingerprint: string, count: number): void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, MANIFEST);
  if (existsSync(path)) {
    let found: unknown;
    try {
      found = JSON.parse(readFileSync(path, "utf8")).fingerprint;
    } catch {
      found = undefined;
    }
    if (found !== fingerprint)
      throw new AegisError(
        "BAD_OPTION",
        `${dir} holds shadow models of another setup (other data, target, training settings or seed); give another checkpoint folder, or delete that one to start afresh`,
      );
    return;
  }
  writeFileAtomic(path, `${JSON.stringify({ kind: "aegis-shadow-models", fingerprint, models: count }, null, 2)}\n`);
}

/** Messages from shadow-worker.ts. */
type WorkerMessage =
  | { type: "epoch"; index: number }
  | { type: "done"; index: number; model: Uint8Array }
  | { type: "error"; index: number; message: string; code?: string };

async function trainInWorkers(
  config: ShadowConfig,
  plan: ShadowPlan,
  pool: LabelledData,
  pending: number[],
  count: number,
  hooks: ShadowTrainerHooks,
): Promise<void> {
  const queue = [...pending];
  const workerData = {
    config: { ...config, threads: config.threads ?? 1 },
    x: { shape: pool.x.shape, data: pool.x.data },
    labels: [...pool.labels],
  };
  const workers = Array.from({ length: count }, () => startWorker(import.meta.url, "shadow-worker", workerData));
  const abort = () => {
    for (const w of workers) w.postMessage({ type: "abort" });
  };
  hooks.signal?.addEventListener("abort", abort, { once: true });
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            const next = () => {
              const index = queue.shift();
              if (index === undefined || hooks.signal?.aborted) return resolve();
              worker.postMessage({ type: "job", index, seed: plan.models[index].seed, rows: plan.models[index].rows });
            };
            worker.on("message", (m: WorkerMessage) => {
              if (m.type === "epoch") hooks.onEpoch();
              else if (m.type === "done") {
                hooks.finish(m.index, m.model);
                next();
              } else reject(m.code ? new AegisError(m.code as AegisError["code"], m.message) : new Error(`shadow model ${m.index}: ${m.message}`));
            });
            worker.on("error", reject);
            worker.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`a shadow-model worker exited with code ${code}`))));
            next();
          }),
      ),
    );
    if (hooks.signal?.aborted) throw new AegisError("INTERRUPTED", "shadow-model training was interrupted");
  } finally {
    hooks.signal?.removeEventListener("abort", abort);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
