/**
 * The submitting side of a campaign: an audit's shard executor that sends each shard to
 * the queue instead of running it here. The model and each run's samples are stored once
 * by content hash; every shard becomes a job keyed by (campaign, run, shard, seed, model
 * hash), the run's key with a digest of its attack, parameters and samples; the results come back in shard order for the audit to merge as it merges local
 * ones. A job that fails after its retries fails its run with the job's error, which the
 * audit records in the report while the other attacks go on. A membership inference's
 * shadow models go the same way, one job each (`shadowTrainer`), and so do a
 * certification's samples, CERTIFY_SAMPLES_PER_JOB at a time (`certify`), and a scan's
 * files, in batches of up to SCAN_FILES_PER_JOB files or SCAN_BYTES_PER_JOB bytes (`scanFiles`),
 * and a red-team run's attempts, REDTEAM_ATTEMPTS_PER_JOB at a time (`redteamExecutor`).
 *
 * A campaign named again (`--campaign ID`) re-attaches: its jobs have the same keys, so
 * the ones already done return their results at once and only the rest run (its failed
 * ones are tried again). `aegis campaign cancel ID` removes the waiting jobs and marks
 * the campaign, so its submitter stops instead of waiting for them.
 */
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { basename } from "node:path";
import { Queue, QueueEvents } from "bullmq";
import type { AttackOutput, AutoAttackOutput, ShadowTrainer } from "../attacks/index.js";
import type { ShardExecutor, ShardRunContext } from "../audit/index.js";
import type { Certificate } from "../defenses/index.js";
import { isEncrypted } from "../encryption/index.js";
import { reinitialise } from "../engine/reinitialise.js";
import { AegisError, isAegisError } from "../errors.js";
import type { AttemptExecutor } from "../llm/index.js";
import type { Model } from "../onnx/ir.js";
import { decodeModel, encodeModel } from "../onnx/proto.js";
import { type FileReport, type FileScanner, signatureOf } from "../supplychain/index.js";
import { float32, type Tensor } from "../tensor.js";
import { type BlobStore, decodeTensor, directoryBlobs, encodeTensor, redisBlobs, sha256 } from "./blobs.js";
import { connectionOptions, openRedis, type QueueTarget, redact } from "./connection.js";
import {
  ATTACK_SHARD,
  ATTEMPTS,
  type AttackShardJob,
  type AttackShardResult,
  type CampaignJob,
  CERTIFY_SHARD,
  type CertifyShardJob,
  type CertifyShardResult,
  certifyJobId,
  encodeParams,
  QUEUE_NAME,
  REDTEAM_BATCH,
  type RedTeamBatchJob,
  type RedTeamBatchResult,
  type RedTeamTargetSpec,
  redteamJobId,
  SCAN_BATCH,
  type ScanBatchJob,
  type ScanBatchResult,
  SHADOW_MODEL,
  type ShadowModelJob,
  type ShadowModelResult,
  scanJobId,
  shadowJobId,
  shardJobId,
} from "./jobs.js";

export interface CampaignOptions extends QueueTarget {
  /** Names the campaign; a name used before re-attaches to its jobs (default: a new one). */
  id?: string;
  /**
   * The model the attack shards run: an encoded ONNX model, or the bytes of a file `aegis
   * encrypt` wrote, which Redis then holds only encrypted and each worker decrypts in memory
   * with its own key (the queue carries no keys). A campaign that only trains shadow models needs none.
   */
  modelBytes?: Uint8Array;
  /** The model's file name: what its signature names, and what an encrypted model's ciphertext is bound to (required then). */
  modelName?: string;
  /** The model's signature bundle (`aegis sign`), for workers that verify one (`aegis worker --pub`). */
  signature?: Uint8Array;
  /** A directory every worker mounts (its --store) to keep the blobs in, instead of Redis: for inputs over 256 MB. */
  store?: string;
  /** Samples per ONNX Runtime call, as the submitter's model has it (with `modelBytes`). */
  batchSize?: number;
  log?: (message: string) => void;
}

export interface Campaign {
  id: string;
  /** SHA-256 of the model the attack shards load (null: none was given). */
  model: string | null;
  executor: ShardExecutor;
  /** Trains a membership inference's shadow models on the workers, one job each. */
  shadowTrainer: ShadowTrainer;
  /** Certifies samples by randomized smoothing on the workers, as `certify` would here (the campaign's model). */
  certify(x: Tensor<"float32">, settings: CertifySettings, context: ShardRunContext): Promise<Certificate[]>;
  /** Scans files on the workers (aegis scan's `scanner`): each is stored by hash and scanned under its path. */
  scanFiles: FileScanner;
  /** Runs a red-team run's attempts on the workers, against `target` (aegis redteam's `executor`). */
  redteamExecutor(target: RedTeamTargetSpec): AttemptExecutor;
  /** Jobs finished so far, and how many of them stalled (their worker died) and were retried. */
  stats(): CampaignStats;
  close(): Promise<void>;
}

/** Samples per certification job: at Cohen et al.'s 100,000 noisy copies each, about a minute of a worker's time on the MNIST CNN. */
export const CERTIFY_SAMPLES_PER_JOB = 10;

export type CertifySettings = CertifyShardJob["settings"];

/** Attempts per red-team job: a few minutes of a slow model's answers. */
export const REDTEAM_ATTEMPTS_PER_JOB = 25;

/** A scan job holds up to this many files, or this many bytes (a larger file goes alone). */
export const SCAN_FILES_PER_JOB = 16;
export const SCAN_BYTES_PER_JOB = 64 * 2 ** 20;

export interface CampaignStats {
  /** Jobs submitted, of every kind. */
  jobs: number;
  completed: number;
  failed: number;
  stalled: number;
  /** Seconds the completed jobs spent in their attacks (or training), and in fetching and loading the model and samples. */
  attackSeconds: number;
  loadSeconds: number;
}

export async function openCampaign(o: CampaignOptions): Promise<Campaign> {
  const log = o.log ?? (() => {});
  const redis = await openRedis(o.url);
  const blobs = o.store === undefined ? redisBlobs(redis, o.prefix) : directoryBlobs(o.store, o.prefix);
  // Stamped on every job, so workers look for the blobs where they are.
  const where: Pick<CampaignJob, "blobs"> = o.store === undefined ? {} : { blobs: "directory" };
  const connection = connectionOptions(o.url);
  const queue = new Queue(QUEUE_NAME, { connection, prefix: o.prefix });
  const events = new QueueEvents(QUEUE_NAME, { connection, prefix: o.prefix });
  const id = o.id ?? `c${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;
  checkCampaignId(id);
  const stats: CampaignStats = { jobs: 0, completed: 0, failed: 0, stalled: 0, attackSeconds: 0, loadSeconds: 0 };
  const mine = (jobId: string) => jobId.startsWith(`${id}-`);
  events.on("stalled", ({ jobId }) => {
    if (!mine(jobId)) return;
    stats.stalled++;
    log(`job ${jobId} stalled (its worker stopped answering); it goes back to the queue for another worker`);
  });
  // Whoever waits for a job, told by the queue's events; a removed job sends neither "completed" nor "failed".
  const waiters = new Map<string, { done(result: unknown): void; fail(reason: string): void }>();
  events.on("completed", ({ jobId, returnvalue }) => waiters.get(jobId)?.done(returnvalue));
  events.on("failed", ({ jobId, failedReason }) => waiters.get(jobId)?.fail(failedReason));
  events.on("removed", ({ jobId }) => waiters.get(jobId)?.fail("it was removed from the queue (aegis campaign cancel)"));
  const finished = <R>(jobId: string) =>
    new Promise<R>((resolve, reject) => {
      waiters.set(jobId, { done: (result) => resolve(result as R), fail: (reason) => reject(new Error(reason)) });
      // It may have finished before anyone listened (a re-attached campaign): ask once. The state
      // first, then the job: a job read first could fail in between and show no reason.
      void (async () => {
        const state = await queue.getJobState(jobId);
        if (state !== "completed" && state !== "failed" && state !== "unknown") return;
        const job = await queue.getJob(jobId);
        if (!job) reject(new Error("it is no longer in the queue"));
        else if (state === "completed") resolve(job.returnvalue as R);
        else reject(new Error(job.failedReason));
      })().catch(reject);
    });
  const cancelled = async () => (await redis.exists(cancelKey(o.prefix, id))) === 1;
  let modelHash: string | null = null;
  let signatureHash: string | undefined;
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    if (o.modelBytes) modelHash = await blobs.put(o.modelBytes, "the model");
    if (o.signature) signatureHash = await blobs.put(o.signature, "the model's signature");
  } catch (e) {
    await Promise.all([queue.close(), events.close()]);
    redis.disconnect();
    throw e instanceof AegisError ? e : new AegisError("QUEUE_ERROR", `cannot start a campaign on ${redact(o.url)}: ${(e as Error).message}`);
  }
  const workers = await queue.getWorkersCount();
  log(
    `campaign ${id} on ${redact(o.url)} (prefix ${o.prefix}): ${modelHash ? `model ${modelHash.slice(0, 12)} stored; ` : ""}${workers === 0 ? `no worker is connected yet, and the jobs wait for one: start \`aegis worker --queue ${redact(o.url)} --prefix ${o.prefix}\`` : `${workers} worker${workers > 1 ? "s" : ""} connected`}`,
  );
  /**
   * Adds `jobs` (each with its id) and waits for all of them, handing each result to `collect`
   * as it arrives. Every job is waited for, so a failure reports the first error while none is
   * left dangling. Stopped by the signal, it leaves the jobs to the workers and says "stopped":
   * named again, the campaign collects them.
   */
  const submit = async <D, R>(
    kind: string,
    jobs: readonly { id: string; data: D }[],
    signal: AbortSignal | undefined,
    describe: (i: number) => string,
    collect: (i: number, result: R) => Promise<void> | void,
  ): Promise<"done" | "stopped"> => {
    if (await cancelled()) throw new AegisError("QUEUE_ERROR", `campaign ${id} was cancelled (aegis campaign cancel)`);
    const added = await queue.addBulk(
      jobs.map(({ id: jobId, data }) => ({
        name: kind,
        data,
        opts: {
          jobId,
          attempts: ATTEMPTS,
          backoff: { type: "fixed", delay: 500 },
          removeOnComplete: { age: 24 * 3600 },
          removeOnFail: { age: 7 * 24 * 3600 },
        },
      })),
    );
    stats.jobs += added.length;
    // Re-attached: what failed before is tried again.
    await Promise.all(added.map(async (job) => (await job.isFailed()) && job.retry()));
    const stopped = new Promise<"stopped">((resolve) => {
      if (signal?.aborted) resolve("stopped");
      signal?.addEventListener("abort", () => resolve("stopped"), { once: true });
    });
    const outcomes = added.map(async (job, i) => {
      try {
        const result = await finished<R & { seconds: number; loadSeconds?: number }>(job.id as string);
        stats.completed++;
        stats.attackSeconds += result.seconds;
        stats.loadSeconds += result.loadSeconds ?? 0;
        await collect(i, result);
      } catch (e) {
        stats.failed++;
        if (e instanceof AegisError) throw e;
        throw new AegisError("QUEUE_ERROR", `${describe(i)} (job ${job.id}) failed on the workers: ${(e as Error).message}`);
      } finally {
        waiters.delete(job.id as string);
      }
    });
    const settled = await Promise.race([Promise.allSettled(outcomes), stopped]);
    if (settled === "stopped") {
      for (const job of added) waiters.delete(job.id as string);
      log(`the jobs of campaign ${id} keep running on the workers: collect them with --campaign ${id}, or cancel them with aegis campaign cancel ${id}`);
      return "stopped";
    }
    const failure = settled.find((f) => f.status === "rejected");
    if (failure) throw failure.reason;
    return "done";
  };

  // What every job that runs the model says of it.
  const modelFields = {
    model: modelHash ?? "",
    ...(o.modelName === undefined ? {} : { modelName: o.modelName }),
    ...(signatureHash === undefined ? {} : { signature: signatureHash }),
  };
  const sampleHashes = new WeakMap<Float32Array, string>();
  let runs = 0;

  const runShards: ShardExecutor = async (model, run, context) => {
    const index = runs++;
    const batchSize = o.batchSize;
    if (modelHash === null || batchSize === undefined)
      throw new AegisError("BAD_OPTION", `campaign ${id} was opened without a model and its batch size, so it cannot run attacks`);
    let samples = sampleHashes.get(run.x.data);
    if (samples === undefined) {
      samples = await blobs.put(encodeTensor(run.x), "the samples");
      sampleHashes.set(run.x.data, samples);
    }
    const params = encodeParams(run.params);
    const runDigest = sha256(Buffer.from(`${run.attack.name}\n${params}\n${samples}`));
    const jobs = run.shards.map((shard) => {
      const data: AttackShardJob = {
        campaign: id,
        ...where,
        run: index,
        runDigest,
        attack: run.attack.name,
        params,
        shard,
        y: run.y.slice(shard.start, shard.end),
        ...modelFields,
        samples,
        clipRange: [model.clipRange[0], model.clipRange[1]],
        batchSize,
        inputKind: run.inputKind,
      };
      return { id: shardJobId(data), data };
    });
    const total = run.x.shape[0];
    let done = 0;
    const outputs: AttackOutput[] = [];
    const outcome = await submit<AttackShardJob, AttackShardResult>(
      ATTACK_SHARD,
      jobs,
      context.signal,
      (i) => `shard ${i + 1} of ${jobs.length}`,
      async (i, result) => {
        outputs[i] = await shardOutput(blobs, result);
        done += jobs[i].data.shard.end - jobs[i].data.shard.start;
        context.onProgress?.(done, total);
      },
    );
    return outcome === "stopped" ? [] : outputs;
  };

  const shadowTrainer: ShadowTrainer = async (config, plan, pool, pending, hooks) => {
    const x = await blobs.put(encodeTensor(pool.x), "the shadow models' data");
    const labels = await blobs.put(encodeTensor(float32([pool.labels.length], Float32Array.from(pool.labels))), "the shadow models' labels");
    // The target's architecture, never its trained weights: workers draw fresh ones from each model's seed anyway.
    const architecture =
      "arch" in config.architecture
        ? config.architecture
        : {
            like: await blobs.put(encodeModel(reinitialise(decodeModel(config.architecture.like), 0).model), "the shadow models' architecture"),
          };
    const encoded = JSON.stringify({ architecture, numClasses: config.numClasses, training: config.training });
    const jobs = pending.map((index) => {
      const { seed, rows } = plan.models[index];
      const digest = sha256(Buffer.from(JSON.stringify({ config: encoded, x, labels, seed, rows })));
      const data: ShadowModelJob = { campaign: id, ...where, index, digest, config: encoded, seed, rows, pool: { x, labels } };
      return { id: shadowJobId(data), data };
    });
    const outcome = await submit<ShadowModelJob, ShadowModelResult>(
      SHADOW_MODEL,
      jobs,
      hooks.signal,
      (i) => `shadow model ${pending[i] + 1} of ${plan.models.length}`,
      async (i, result) => {
        const bytes = await blobs.get(result.model, "a shadow model");
        for (let e = 0; e < config.training.epochs; e++) hooks.onEpoch();
        hooks.finish(pending[i], bytes);
      },
    );
    if (outcome === "stopped") throw new AegisError("INTERRUPTED", `the shadow models of campaign ${id} were interrupted`);
  };

  const certifyOnWorkers = async (x: Tensor<"float32">, settings: CertifySettings, context: ShardRunContext): Promise<Certificate[]> => {
    if (modelHash === null) throw new AegisError("BAD_OPTION", `campaign ${id} was opened without a model, so it cannot certify`);
    const samples = await blobs.put(encodeTensor(x), "the samples");
    const digest = sha256(Buffer.from(JSON.stringify({ settings, samples })));
    const total = x.shape[0];
    const jobs: { id: string; data: CertifyShardJob }[] = [];
    for (let start = 0; start < total; start += CERTIFY_SAMPLES_PER_JOB) {
      const data: CertifyShardJob = {
        campaign: id,
        ...where,
        digest,
        ...modelFields,
        samples,
        start,
        end: Math.min(total, start + CERTIFY_SAMPLES_PER_JOB),
        settings,
      };
      jobs.push({ id: certifyJobId(data), data });
    }
    const certificates: Certificate[] = [];
    let done = 0;
    const outcome = await submit<CertifyShardJob, CertifyShardResult>(
      CERTIFY_SHARD,
      jobs,
      context.signal,
      (i) => `samples ${jobs[i].data.start + 1}–${jobs[i].data.end} of ${total}`,
      (i, result) => {
        // Shards finish in any order: each goes to its own rows.
        for (const [k, certificate] of result.certificates.entries()) certificates[jobs[i].data.start + k] = certificate;
        done += result.certificates.length;
        context.onProgress?.(done, total);
      },
    );
    return outcome === "stopped" ? [] : certificates;
  };

  const scanFiles: FileScanner = async (files, limits, onProgress) => {
    const batches: ScanBatchJob["files"][] = [];
    let bytes = 0;
    for (const name of files) {
      const content = await readFile(name);
      const last = batches.at(-1);
      if (!last || last.length >= SCAN_FILES_PER_JOB || bytes + content.byteLength > SCAN_BYTES_PER_JOB) {
        batches.push([]);
        bytes = 0;
      }
      (batches.at(-1) as ScanBatchJob["files"]).push({ name, hash: await blobs.put(content, name) });
      bytes += content.byteLength;
    }
    const jobs = batches.map((batch) => {
      const data: ScanBatchJob = { campaign: id, ...where, digest: sha256(Buffer.from(JSON.stringify({ batch, limits }))), files: batch, limits };
      return { id: scanJobId(data), data };
    });
    const reports: FileReport[][] = [];
    let done = 0;
    const outcome = await submit<ScanBatchJob, ScanBatchResult>(
      SCAN_BATCH,
      jobs,
      undefined,
      (i) => `the batch of ${jobs[i].data.files.length} files from ${jobs[i].data.files[0].name}`,
      (i, result) => {
        reports[i] = result.files;
        done += jobs[i].data.files.length;
        onProgress(done, files.length);
      },
    );
    if (outcome === "stopped") throw new AegisError("INTERRUPTED", `the scan of campaign ${id} was interrupted`);
    return reports.flat();
  };

  const redteamExecutor =
    (target: RedTeamTargetSpec): AttemptExecutor =>
    async (attempts, context) => {
      const jobs: { id: string; data: RedTeamBatchJob }[] = [];
      for (let start = 0; start < attempts.length; start += REDTEAM_ATTEMPTS_PER_JOB) {
        const batch = attempts.slice(start, start + REDTEAM_ATTEMPTS_PER_JOB);
        const data: RedTeamBatchJob = {
          campaign: id,
          ...where,
          digest: sha256(Buffer.from(JSON.stringify({ target, batch }))),
          start,
          target,
          attempts: batch,
        };
        jobs.push({ id: redteamJobId(data), data });
      }
      await submit<RedTeamBatchJob, RedTeamBatchResult>(
        REDTEAM_BATCH,
        jobs,
        context.signal,
        (i) => `red-team attempts ${jobs[i].data.start + 1}–${jobs[i].data.start + jobs[i].data.attempts.length} of ${attempts.length}`,
        (i, result) => {
          for (const [k, attempt] of result.results.entries()) context.onResult(jobs[i].data.start + k, attempt);
        },
      );
    };

  return {
    id,
    model: modelHash,
    // Each ε's jobs go to the queue at once, so workers keep busy while earlier runs are scored.
    executor: Object.assign(runShards, { concurrent: true }),
    shadowTrainer,
    certify: certifyOnWorkers,
    scanFiles,
    redteamExecutor,
    stats: () => ({ ...stats }),
    async close() {
      await Promise.all([queue.close(), events.close()]);
      redis.disconnect();
    },
  };
}

/** A job's result as the attack's output, its adversarial examples fetched and checked. */
async function shardOutput(blobs: BlobStore, result: AttackShardResult): Promise<AttackOutput> {
  const x: Tensor<"float32"> = decodeTensor(await blobs.get(result.x, "a shard's adversarial examples"));
  const output: AttackOutput & Partial<AutoAttackOutput> = { x };
  if (result.queries) output.queries = Int32Array.from(result.queries);
  if (result.brokenBy && result.attacks) {
    output.brokenBy = result.brokenBy;
    output.attacks = result.attacks;
  }
  return output;
}

/**
 * What a campaign stores of the model at `path` (`graph`, as loaded): the file as it is on
 * disk, so its hash is the one a signature names, and an encrypted one stays encrypted; only
 * a model whose tensors live in files beside it goes re-encoded, whole. Its signature
 * (`aegis sign`'s, found as `aegis verify` finds it) goes too, for workers that check one.
 */
export function campaignModel(path: string, graph: Model): Pick<CampaignOptions, "modelBytes" | "modelName" | "signature"> {
  const onDisk = readFileSync(path);
  const signaturePath = signatureOf(path);
  const signature = existsSync(signaturePath) ? { signature: readFileSync(signaturePath) } : {};
  if (isEncrypted(onDisk) || standsAlone(onDisk)) return { modelBytes: onDisk, modelName: basename(path), ...signature };
  return { modelBytes: encodeModel(graph), modelName: basename(path) };
}

/** Whether a model file that loaded from its path also loads from its bytes alone: it does unless its tensors live in files beside it. */
function standsAlone(bytes: Uint8Array): boolean {
  try {
    decodeModel(bytes);
    return true;
  } catch (e) {
    if (isAegisError(e) && e.code === "BAD_MODEL") return false;
    throw e;
  }
}

/** The key whose presence says a campaign was cancelled. */
export const cancelKey = (prefix: string, id: string) => `${prefix}:cancelled:${id}`;

/** A campaign's name goes into job ids and keys: letters, digits, - and _. */
export function checkCampaignId(id: string): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new AegisError("BAD_OPTION", `a campaign ID is 1 to 64 letters, digits, - or _, not "${id}"`);
}
