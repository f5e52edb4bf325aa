/**
 * The working side of a campaign: a BullMQ worker that takes shard jobs, loads the model
 * and samples they name by hash (checked, then kept for the next job), runs the shard
 * through the audit's own `attackShard` and stores the adversarial examples back by hash;
 * and shadow-model jobs, which it trains with the inference attacks' own `trainShadowModel`
 * and stores back by hash.
 * A worker that dies mid-job stops renewing its lock; after `stallSeconds` another
 * worker's stalled-job check puts the job back in the queue. An error the user caused (a
 * model that will not load, a bad parameter) would fail again the same way, so its job
 * fails at once with that error; anything else is retried up to ATTEMPTS times.
 */

import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { type Job, Queue, UnrecoverableError, Worker } from "bullmq";
import type { Attack, AutoAttackOutput, CommonParams, LabelledData, ShadowConfig } from "../attacks/index.js";
import { attackByName, sampleRows, trainShadowModel } from "../attacks/index.js";
import { attackShard } from "../audit/index.js";
import { certify } from "../defenses/index.js";
import { decryptBytes, ENCRYPTED_SUFFIX, findKey, type Identity, isEncrypted, KEY_ENV, KEY_FILE_ENV } from "../encryption/index.js";
import type { Architecture } from "../engine/architectures.js";
import { OnnxClassifier } from "../engine/classifier.js";
import { AegisError } from "../errors.js";
import { type AttemptResult, createOpenAiTarget, runPlannedAttempt } from "../llm/index.js";
import { decodeModel } from "../onnx/proto.js";
import { type FileReport, scanBytes, verifySignedFile } from "../supplychain/index.js";
import { sliceRows, type Tensor } from "../tensor.js";
import { type BlobStore, decodeTensor, directoryBlobs, encodeTensor, RESULT_TTL_SECONDS, redisBlobs, sha256 } from "./blobs.js";
import { connectionOptions, openRedis, type QueueTarget } from "./connection.js";
import {
  ATTACK_SHARD,
  type AttackShardJob,
  type AttackShardResult,
  answeredAttempts,
  type CampaignJob,
  CERTIFY_SHARD,
  type CertifyShardJob,
  type CertifyShardResult,
  decodeParams,
  QUEUE_NAME,
  REDTEAM_BATCH,
  type RedTeamBatchJob,
  type RedTeamBatchProgress,
  type RedTeamBatchResult,
  SCAN_BATCH,
  type ScanBatchJob,
  type ScanBatchResult,
  SHADOW_MODEL,
  type ShadowModelJob,
  type ShadowModelResult,
} from "./jobs.js";
import { serveMetrics, workerMetrics } from "./metrics.js";
import { queueOverview, renderCampaignPage } from "./page.js";

export interface WorkerOptions extends QueueTarget {
  /** Jobs run at once (default 1). */
  concurrency?: number;
  /** ONNX Runtime intra-op threads per model (0: one per core). */
  threads?: number;
  /** Seconds a job's lock lasts without renewal before the job counts as stalled (default 30). */
  stallSeconds?: number;
  /** Serve Prometheus metrics on this port (0: any free one); default: none. */
  metricsPort?: number;
  /** Address the metrics listen on (default 127.0.0.1). */
  metricsHost?: string;
  /** The shared directory (mounted here) of campaigns that keep their blobs in one (aegis audit … --queue-store). */
  store?: string;
  /** Public key (a .pub file): run only models whose signature (`aegis sign`, sent with the campaign) verifies under it. */
  pub?: string;
  /** Decrypts the models `aegis encrypt` wrote (default: AEGIS_KEY or AEGIS_KEY_FILE, looked up when one arrives). */
  key?: Identity;
  /** Finds an attack by name (default: the registry). */
  lookup?: (name: string) => Attack<CommonParams, unknown> | undefined;
  log?: (message: string) => void;
}

export interface CampaignWorker {
  /** Where the metrics are served, when they are. */
  metricsUrl: string | null;
  /** Waits for the running jobs, then disconnects. */
  close(): Promise<void>;
}

type JobResult = AttackShardResult | ShadowModelResult | CertifyShardResult | ScanBatchResult | RedTeamBatchResult;

/** Models and samples a worker keeps, by hash: a campaign's jobs share them. */
const KEPT = 4;

export async function startWorker(o: WorkerOptions): Promise<CampaignWorker> {
  const log = o.log ?? (() => {});
  const lookup = o.lookup ?? attackByName;
  const redis = await openRedis(o.url);
  const name = `${hostname()}:${process.pid}`;
  const models = new Kept<OnnxClassifier>((m) => m.release());
  const samples = new Kept<Tensor<"float32">>();
  const queue = new Queue(QUEUE_NAME, { connection: connectionOptions(o.url), prefix: o.prefix });
  const metrics = workerMetrics(queue);
  const inRedis = redisBlobs(redis, o.prefix);
  const inDirectory = o.store === undefined ? undefined : directoryBlobs(o.store, o.prefix);
  /** Where a job's blobs are: the campaign's Redis, or the shared directory this worker was given. */
  const blobsOf = (job: CampaignJob): BlobStore => {
    if (job.blobs !== "directory") return inRedis;
    if (!inDirectory)
      throw new AegisError(
        "BAD_OPTION",
        `campaign ${job.campaign} keeps its inputs in a shared directory: start the worker ${name} with --store DIR, that directory as mounted here`,
      );
    return inDirectory;
  };

  /** The job's model, decrypted if need be, loaded for its batch size (and input range: attacks clip to it). */
  const loadModel = (job: CampaignJob & Pick<AttackShardJob, "model" | "modelName" | "signature" | "batchSize"> & { clipRange?: [number, number] }) =>
    // Name and signature are part of the key: the same bytes sent again unsigned are checked again.
    models.get(`${job.model}/${job.modelName}/${job.signature}/${job.batchSize}/${job.clipRange}`, async () => {
      const stored = await blobsOf(job).get(job.model, "the model");
      const bytes = isEncrypted(stored) ? decryptModel(stored, job, o.key ?? findKey(), name) : stored;
      if (o.pub) await checkSignature(job, bytes, o.pub);
      try {
        return await OnnxClassifier.create(decodeModel(bytes), { threads: o.threads ?? 0, batchSize: job.batchSize, clipRange: job.clipRange });
      } catch (e) {
        throw new AegisError("BAD_MODEL", `the worker ${name} cannot load model ${job.model.slice(0, 12)}: ${(e as Error).message}`);
      }
    });

  const processCertify = async (job: Job<CertifyShardJob>): Promise<CertifyShardResult> => {
    const data = job.data;
    log(`job ${job.id} started: certifying samples ${data.start}–${data.end}`);
    const loadStarted = performance.now();
    const model = await loadModel({ ...data, batchSize: data.settings.batchSize });
    const x = await samples.get(data.samples, async () => decodeTensor(await blobsOf(data).get(data.samples, "the samples")));
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const started = performance.now();
    const certificates = await certify(model, sliceRows(x, data.start, data.end), {
      ...data.settings,
      offset: data.start,
      onProgress: (done, total) => void job.updateProgress(Math.round((100 * done) / total)).catch(() => {}),
    });
    const seconds = (performance.now() - started) / 1000;
    metrics.jobSeconds.observe({ attack: "certify" }, seconds);
    metrics.loadSeconds.observe(loadSeconds);
    log(`job ${job.id} done in ${seconds.toFixed(2)} s (+${loadSeconds.toFixed(2)} s loading)`);
    return { certificates, worker: name, seconds, loadSeconds };
  };

  const processScan = async (job: Job<ScanBatchJob>): Promise<ScanBatchResult> => {
    const data = job.data;
    log(`job ${job.id} started: scanning ${data.files.length} files from ${data.files[0]?.name}`);
    const started = performance.now();
    const files: FileReport[] = [];
    for (const [i, file] of data.files.entries()) {
      files.push(...(await scanBytes(await blobsOf(data).get(file.hash, file.name), file.name, { limits: data.limits })).files);
      void job.updateProgress(Math.round((100 * (i + 1)) / data.files.length)).catch(() => {});
    }
    const seconds = (performance.now() - started) / 1000;
    metrics.jobSeconds.observe({ attack: "scan" }, seconds);
    log(`job ${job.id} done in ${seconds.toFixed(2)} s`);
    return { files, worker: name, seconds };
  };

  /** Refuses a model whose signature is missing or does not verify under --pub: before anything runs on it. */
  const checkSignature = async (job: CampaignJob & Pick<AttackShardJob, "model" | "modelName" | "signature">, plaintext: Uint8Array, pub: string) => {
    const model = job.modelName ?? `model ${job.model.slice(0, 12)}`;
    if (!job.signature)
      throw new AegisError(
        "INTEGRITY_FAILED",
        `${model} came without a signature, and the worker ${name} runs only models signed for ${pub}: sign it (aegis sign) and submit again`,
      );
    const bundle = (await blobsOf(job).get(job.signature, "the model's signature")).toString("utf8");
    // The file as sent (signed as it is), or an encrypted file's plaintext (signed, then encrypted).
    const candidates = [{ name: job.modelName ?? "", digest: job.model }];
    if (job.modelName?.endsWith(ENCRYPTED_SUFFIX)) candidates.push({ name: job.modelName.slice(0, -ENCRYPTED_SUFFIX.length), digest: sha256(plaintext) });
    const verdict = verifySignedFile(bundle, pub, candidates);
    if (!verdict.valid) throw new AegisError("INTEGRITY_FAILED", `${model} is refused by the worker ${name}: ${verdict.reason}`);
    log(`${model}: signature verified under ${pub}`);
  };

  const processRedTeam = async (job: Job<RedTeamBatchJob>): Promise<RedTeamBatchResult> => {
    const data = job.data;
    const t = data.target;
    log(`job ${job.id} started: ${data.attempts.length} red-team attempts against ${t.model} at ${t.url}`);
    const { apiKeyEnv, ...options } = t;
    const target = createOpenAiTarget({ ...options, apiKey: process.env[apiKeyEnv] || undefined });
    const started = performance.now();
    const answered = answeredAttempts(job.progress, data.attempts.length);
    if (answered.size > 0) log(`job ${job.id}: ${answered.size} attempts answered on an earlier try, not asked again`);
    const results: AttemptResult[] = new Array(data.attempts.length);
    for (const [i, result] of answered) results[i] = result;
    const pending = data.attempts.map((_, i) => i).filter((i) => !answered.has(i));
    let next = 0;
    // As many attempts in flight as the submitter's --concurrency allows; the target's own pool holds that too.
    const lane = async () => {
      while (next < pending.length) {
        const i = pending[next++];
        results[i] = await runPlannedAttempt(data.attempts[i], target);
        answered.set(i, results[i]);
        const progress: RedTeamBatchProgress = {
          percent: Math.round((100 * answered.size) / data.attempts.length),
          answered: Object.fromEntries(answered),
        };
        void job.updateProgress(progress).catch(() => {});
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, t.concurrency) }, lane));
    const seconds = (performance.now() - started) / 1000;
    metrics.jobSeconds.observe({ attack: "redteam" }, seconds);
    log(`job ${job.id} done in ${seconds.toFixed(2)} s`);
    return { results, worker: name, seconds };
  };

  const pools = new Kept<LabelledData>();
  const processShadow = async (job: Job<ShadowModelJob>): Promise<ShadowModelResult> => {
    const data = job.data;
    log(`job ${job.id} started: shadow model ${data.index} on ${data.rows.length} samples`);
    const parsed = JSON.parse(data.config) as Omit<ShadowConfig, "architecture"> & { architecture: { arch: Architecture } | { like: string } };
    const architecture =
      "arch" in parsed.architecture ? parsed.architecture : { like: await blobsOf(data).get(parsed.architecture.like, "the shadow models' architecture") };
    const pool = await pools.get(`${data.pool.x}/${data.pool.labels}`, async () => ({
      x: decodeTensor(await blobsOf(data).get(data.pool.x, "the shadow models' data")),
      labels: Array.from(decodeTensor(await blobsOf(data).get(data.pool.labels, "the shadow models' labels")).data),
    }));
    const started = performance.now();
    const config: ShadowConfig = { ...parsed, architecture, threads: o.threads ?? 0 };
    const bytes = await trainShadowModel(config, data.seed, sampleRows(pool, data.rows), {
      onEpoch: (epoch) => void job.updateProgress(Math.round((100 * epoch) / config.training.epochs)).catch(() => {}),
    });
    const seconds = (performance.now() - started) / 1000;
    metrics.jobSeconds.observe({ attack: "shadow-model" }, seconds);
    log(`job ${job.id} done in ${seconds.toFixed(2)} s`);
    return { model: await blobsOf(data).put(bytes, "a shadow model", RESULT_TTL_SECONDS), worker: name, seconds };
  };

  const processShard = async (job: Job<AttackShardJob>): Promise<AttackShardResult> => {
    const data = job.data;
    log(`job ${job.id} started: ${data.attack} shard ${data.shard.index} (rows ${data.shard.start}–${data.shard.end})`);
    const loadStarted = performance.now();
    const attack = lookup(data.attack);
    if (!attack) throw new AegisError("BAD_OPTION", `the worker ${name} has no attack "${data.attack}"; run the same Aegis version on every worker`);
    const model = await loadModel(data);
    const x = await samples.get(data.samples, async () => decodeTensor(await blobsOf(data).get(data.samples, "the samples")));
    const loadSeconds = (performance.now() - loadStarted) / 1000;
    const started = performance.now();
    const output = await attackShard(attack, model, sliceRows(x, data.shard.start, data.shard.end), data.y, decodeParams(data.params), data.shard.seed, {
      inputKind: data.inputKind,
      onProgress: (done, total) => void job.updateProgress(Math.round((100 * done) / total)).catch(() => {}),
    });
    const seconds = (performance.now() - started) / 1000;
    metrics.jobSeconds.observe({ attack: data.attack }, seconds);
    metrics.loadSeconds.observe(loadSeconds);
    const result: AttackShardResult = {
      x: await blobsOf(data).put(encodeTensor(output.x), "a shard's adversarial examples", RESULT_TTL_SECONDS),
      worker: name,
      seconds,
      loadSeconds,
    };
    if (output.queries) result.queries = Array.from(output.queries);
    if ("brokenBy" in output) {
      result.brokenBy = (output as AutoAttackOutput).brokenBy;
      result.attacks = (output as AutoAttackOutput).attacks;
    }
    log(`job ${job.id} done in ${seconds.toFixed(2)} s (+${loadSeconds.toFixed(2)} s loading)`);
    return result;
  };

  const stall = (o.stallSeconds ?? 30) * 1000;
  const worker = new Worker<AttackShardJob | ShadowModelJob | CertifyShardJob | ScanBatchJob | RedTeamBatchJob, JobResult>(
    QUEUE_NAME,
    async (job) => {
      try {
        let result: JobResult;
        if (job.name === ATTACK_SHARD) result = await processShard(job as Job<AttackShardJob>);
        else if (job.name === SHADOW_MODEL) result = await processShadow(job as Job<ShadowModelJob>);
        else if (job.name === CERTIFY_SHARD) result = await processCertify(job as Job<CertifyShardJob>);
        else if (job.name === SCAN_BATCH) result = await processScan(job as Job<ScanBatchJob>);
        else if (job.name === REDTEAM_BATCH) result = await processRedTeam(job as Job<RedTeamBatchJob>);
        else throw new UnrecoverableError(`this worker does not know jobs of kind "${job.name}"; upgrade it`);
        metrics.jobs.inc({ outcome: "completed" });
        return result;
      } catch (e) {
        metrics.jobs.inc({ outcome: "failed" });
        log(`job ${job.id} failed: ${(e as Error).message}`);
        // The user's errors recur on every try: fail the job at once with the sentence that says what to do.
        if (e instanceof AegisError) throw new UnrecoverableError(e.message);
        throw e;
      }
    },
    {
      connection: connectionOptions(o.url),
      prefix: o.prefix,
      concurrency: o.concurrency ?? 1,
      lockDuration: stall,
      stalledInterval: stall,
      maxStalledCount: 2,
      name,
    },
  );
  worker.on("error", (e) => log(`queue error: ${e.message}`));
  await worker.waitUntilReady();
  const server =
    o.metricsPort === undefined
      ? null
      : await serveMetrics(metrics.registry, o.metricsPort, o.metricsHost ?? "127.0.0.1", async () => renderCampaignPage(await queueOverview(queue), o.prefix));
  const address = server?.address() as AddressInfo | undefined;
  const metricsUrl = address ? `http://${address.address}:${address.port}/metrics` : null;
  log(
    `worker ${name} takes jobs from ${QUEUE_NAME} (prefix ${o.prefix}), ${o.concurrency ?? 1} at a time${metricsUrl ? `; metrics on ${metricsUrl}, the campaigns' page on ${metricsUrl.replace(/metrics$/, "")}` : ""}`,
  );
  return {
    metricsUrl,
    async close() {
      server?.close();
      await worker.close();
      await queue.close();
      await models.clear();
      redis.disconnect();
    },
  };
}

/** An encrypted model's plaintext, decrypted in memory with the worker's key. */
function decryptModel(bytes: Uint8Array, job: Pick<AttackShardJob, "model" | "modelName">, key: Identity | undefined, worker: string): Buffer {
  const model = job.modelName ?? `model ${job.model.slice(0, 12)}`;
  if (!key)
    throw new AegisError(
      "BAD_OPTION",
      `${model} is encrypted and the worker ${worker} has no key: start it with --key-file, or set ${KEY_ENV} or ${KEY_FILE_ENV}`,
    );
  if (!job.modelName) throw new AegisError("BAD_MODEL", `${model} is encrypted but its job does not name the file it was encrypted as`);
  return decryptBytes(bytes, key, job.modelName);
}

/** A few values by key, oldest dropped first; a value still loading is shared, a failed load is forgotten. */
class Kept<T> {
  private readonly values = new Map<string, Promise<T>>();
  constructor(private readonly drop: (value: T) => unknown = () => {}) {}

  get(key: string, load: () => Promise<T>): Promise<T> {
    const kept = this.values.get(key);
    if (kept) return kept;
    const loading = load();
    loading.catch(() => this.values.delete(key));
    this.values.set(key, loading);
    for (const [old, value] of this.values) {
      if (this.values.size <= KEPT) break;
      this.values.delete(old);
      void value.then(this.drop, () => {});
    }
    return loading;
  }

  async clear(): Promise<void> {
    const values = [...this.values.values()];
    this.values.clear();
    for (const v of values) await v.then(this.drop, () => {});
  }
}
