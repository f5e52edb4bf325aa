/**
 * The submitting side of a campaign: an audit's shard executor that sends each shard to
 * the queue instead of running it here. The model and each run's samples are stored once
 * by content hash; every shard becomes a job keyed by (campaign, run, shard, seed, model
 * hash), the run's key with a digest of its attack, parameters and samples; the results come back in shard order for the audit to merge as it merges local
 * ones. A job that fails after its retries fails its run with the job's error, which the
 * audit records in the report while the other attacks go on.
 *
 * A campaign named again (`--campaign ID`) re-attaches: its jobs have the same keys, so
 * the ones already done return their results at once and only the rest run (its failed
 * ones are tried again). `aegis campaign cancel ID` removes the waiting jobs and marks
 * the campaign, so its submitter stops instead of waiting for them.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { Queue, QueueEvents } from "bullmq";
import type { Redis } from "ioredis";
import type { AttackOutput, AutoAttackOutput } from "../attacks/index.js";
import type { ShardExecutor } from "../audit/index.js";
import { isEncrypted } from "../encryption/index.js";
import { AegisError } from "../errors.js";
import type { Model } from "../onnx/ir.js";
import { encodeModel } from "../onnx/proto.js";
import type { Tensor } from "../tensor.js";
import { decodeTensor, encodeTensor, getBlob, putBlob, sha256 } from "./blobs.js";
import { connectionOptions, openRedis, type QueueTarget, redact } from "./connection.js";
import { ATTACK_SHARD, ATTEMPTS, type AttackShardJob, type AttackShardResult, encodeParams, QUEUE_NAME, shardJobId } from "./jobs.js";

export interface CampaignOptions extends QueueTarget {
  /** Names the campaign; a name used before re-attaches to its jobs (default: a new one). */
  id?: string;
  /**
   * The model the workers run: an encoded ONNX model, or the bytes of a file `aegis encrypt`
   * wrote, which Redis then holds only encrypted and each worker decrypts in memory with its
   * own key (the queue carries no keys).
   */
  modelBytes: Uint8Array;
  /** The encrypted model's file name, which its ciphertext is bound to; required with encrypted bytes. */
  modelName?: string;
  /** Samples per ONNX Runtime call, as the submitter's model has it. */
  batchSize: number;
  log?: (message: string) => void;
}

export interface Campaign {
  id: string;
  /** SHA-256 of the model the workers load. */
  model: string;
  executor: ShardExecutor;
  /** Jobs finished so far, and how many of them stalled (their worker died) and were retried. */
  stats(): CampaignStats;
  close(): Promise<void>;
}

export interface CampaignStats {
  jobs: number;
  completed: number;
  failed: number;
  stalled: number;
  /** Seconds the completed jobs spent in their attacks, and in fetching and loading the model and samples. */
  attackSeconds: number;
  loadSeconds: number;
}

export async function openCampaign(o: CampaignOptions): Promise<Campaign> {
  const log = o.log ?? (() => {});
  const redis = await openRedis(o.url);
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
  const waiters = new Map<string, { done(result: AttackShardResult): void; fail(reason: string): void }>();
  events.on("completed", ({ jobId, returnvalue }) => waiters.get(jobId)?.done(returnvalue as unknown as AttackShardResult));
  events.on("failed", ({ jobId, failedReason }) => waiters.get(jobId)?.fail(failedReason));
  events.on("removed", ({ jobId }) => waiters.get(jobId)?.fail("it was removed from the queue (aegis campaign cancel)"));
  const finished = (jobId: string) =>
    new Promise<AttackShardResult>((resolve, reject) => {
      waiters.set(jobId, { done: resolve, fail: (reason) => reject(new Error(reason)) });
      // It may have finished before anyone listened (a re-attached campaign): ask once. The state
      // first, then the job: a job read first could fail in between and show no reason.
      void (async () => {
        const state = await queue.getJobState(jobId);
        if (state !== "completed" && state !== "failed" && state !== "unknown") return;
        const job = await queue.getJob(jobId);
        if (!job) reject(new Error("it is no longer in the queue"));
        else if (state === "completed") resolve(job.returnvalue as AttackShardResult);
        else reject(new Error(job.failedReason));
      })().catch(reject);
    });
  const cancelled = async () => (await redis.exists(cancelKey(o.prefix, id))) === 1;
  let modelHash: string;
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    modelHash = await putBlob(redis, o.prefix, o.modelBytes, "the model");
  } catch (e) {
    await Promise.all([queue.close(), events.close()]);
    redis.disconnect();
    throw e instanceof AegisError ? e : new AegisError("QUEUE_ERROR", `cannot start a campaign on ${redact(o.url)}: ${(e as Error).message}`);
  }
  const workers = await queue.getWorkersCount();
  log(
    `campaign ${id} on ${redact(o.url)} (prefix ${o.prefix}): model ${modelHash.slice(0, 12)} stored; ${workers === 0 ? `no worker is connected yet, and the jobs wait for one: start \`aegis worker --queue ${redact(o.url)} --prefix ${o.prefix}\`` : `${workers} worker${workers > 1 ? "s" : ""} connected`}`,
  );
  const sampleHashes = new WeakMap<Float32Array, string>();
  let runs = 0;

  const runShards: ShardExecutor = async (model, run, context) => {
    const index = runs++;
    if (await cancelled()) throw new AegisError("QUEUE_ERROR", `campaign ${id} was cancelled (aegis campaign cancel)`);
    let samples = sampleHashes.get(run.x.data);
    if (samples === undefined) {
      samples = await putBlob(redis, o.prefix, encodeTensor(run.x), "the samples");
      sampleHashes.set(run.x.data, samples);
    }
    const params = encodeParams(run.params);
    const runDigest = sha256(Buffer.from(`${run.attack.name}\n${params}\n${samples}`));
    const jobs = run.shards.map(
      (shard): AttackShardJob => ({
        campaign: id,
        run: index,
        runDigest,
        attack: run.attack.name,
        params,
        shard,
        y: run.y.slice(shard.start, shard.end),
        model: modelHash,
        ...(o.modelName === undefined ? {} : { modelName: o.modelName }),
        samples,
        clipRange: [model.clipRange[0], model.clipRange[1]],
        batchSize: o.batchSize,
        inputKind: run.inputKind,
      }),
    );
    const added = await queue.addBulk(
      jobs.map((data) => ({
        name: ATTACK_SHARD,
        data,
        opts: {
          jobId: shardJobId(data),
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
    const total = run.x.shape[0];
    let done = 0;
    const stopped = new Promise<"stopped">((resolve) => {
      if (context.signal?.aborted) resolve("stopped");
      context.signal?.addEventListener("abort", () => resolve("stopped"), { once: true });
    });
    const outcomes = added.map(async (job, i) => {
      try {
        const result = await finished(job.id as string);
        stats.completed++;
        stats.attackSeconds += result.seconds;
        stats.loadSeconds += result.loadSeconds;
        const output = await shardOutput(redis, o.prefix, result);
        done += jobs[i].shard.end - jobs[i].shard.start;
        context.onProgress?.(done, total);
        return output;
      } catch (e) {
        stats.failed++;
        if (e instanceof AegisError) throw e;
        throw new AegisError(
          "QUEUE_ERROR",
          `shard ${jobs[i].shard.index + 1} of ${jobs.length} (job ${job.id}) failed on the workers: ${(e as Error).message}`,
        );
      } finally {
        waiters.delete(job.id as string);
      }
    });
    // Every job is waited for, so a failure reports the first error while none is left dangling. Stopped, the
    // submitter leaves its jobs to the workers: named again, the campaign collects them.
    const settled = await Promise.race([Promise.allSettled(outcomes), stopped]);
    if (settled === "stopped") {
      for (const job of added) waiters.delete(job.id as string);
      log(`the jobs of campaign ${id} keep running on the workers: collect them with --campaign ${id}, or cancel them with aegis campaign cancel ${id}`);
      return [];
    }
    const failure = settled.find((f) => f.status === "rejected");
    if (failure) throw failure.reason;
    return settled.map((f) => (f as PromiseFulfilledResult<AttackOutput>).value);
  };

  return {
    id,
    model: modelHash,
    // Each ε's jobs go to the queue at once, so workers keep busy while earlier runs are scored.
    executor: Object.assign(runShards, { concurrent: true }),
    stats: () => ({ ...stats }),
    async close() {
      await Promise.all([queue.close(), events.close()]);
      redis.disconnect();
    },
  };
}

/** A job's result as the attack's output, its adversarial examples fetched and checked. */
async function shardOutput(redis: Redis, prefix: string, result: AttackShardResult): Promise<AttackOutput> {
  const x: Tensor<"float32"> = decodeTensor(await getBlob(redis, prefix, result.x, "a shard's adversarial examples"));
  const output: AttackOutput & Partial<AutoAttackOutput> = { x };
  if (result.queries) output.queries = Int32Array.from(result.queries);
  if (result.brokenBy && result.attacks) {
    output.brokenBy = result.brokenBy;
    output.attacks = result.attacks;
  }
  return output;
}

/**
 * What a campaign stores of the model at `path` (`graph`, as loaded): a file `aegis encrypt`
 * wrote goes as it is on disk, so Redis never holds the plaintext; any other as encoded.
 */
export function campaignModel(path: string, graph: Model): Pick<CampaignOptions, "modelBytes" | "modelName"> {
  const onDisk = readFileSync(path);
  return isEncrypted(onDisk) ? { modelBytes: onDisk, modelName: basename(path) } : { modelBytes: encodeModel(graph) };
}

/** The key whose presence says a campaign was cancelled. */
export const cancelKey = (prefix: string, id: string) => `${prefix}:cancelled:${id}`;

/** A campaign's name goes into job ids and keys: letters, digits, - and _. */
export function checkCampaignId(id: string): void {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new AegisError("BAD_OPTION", `a campaign ID is 1 to 64 letters, digits, - or _, not "${id}"`);
}
