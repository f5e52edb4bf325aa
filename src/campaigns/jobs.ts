/**
 * What travels through the queue: one job per shard of an attack run, keyed by (campaign,
 * run and its digest, shard, seed, model hash), and one per shadow model of a membership
 * inference, keyed by (campaign, model index, digest of its configuration, data, rows and
 * seed), and one per shard of a certification, keyed by (campaign, digest of its settings
 * and samples, first and last sample, model hash), one per batch of scanned files and one
 * per batch of red-team attempts, so a retried job recomputes exactly the same thing (a
 * red-team job instead keeps the answers it got in its progress and asks only the rest: the
 * target may answer otherwise, and may bill per request). A job names its models and
 * data by content hash and carries no secrets: no paths, keys or tokens.
 */
import type { CommonParams } from "../attacks/index.js";
import type { Shard } from "../audit/index.js";
import type { InputKind } from "../engine/input-kind.js";
import type { AttemptResult, PlannedAttempt } from "../llm/index.js";
import type { FileReport, ScanLimits } from "../supplychain/index.js";

export const QUEUE_NAME = "aegis-campaign";
export const ATTACK_SHARD = "attack-shard";
export const SHADOW_MODEL = "shadow-model";
export const CERTIFY_SHARD = "certify-shard";
export const SCAN_BATCH = "scan-batch";
export const REDTEAM_BATCH = "redteam-batch";

/** What every job carries: its campaign, and where its blobs are. */
export interface CampaignJob {
  campaign: string;
  /** "directory": in the shared directory each worker is given with --store; absent: in the campaign's Redis. */
  blobs?: "directory";
}

export interface AttackShardJob extends CampaignJob {
  /** Index of the attack run within the campaign (one attack at one ε). */
  run: number;
  /** SHA-256 of the run's attack, parameters and samples, so a re-attached campaign whose suite changed does not take another run's results. */
  runDigest: string;
  attack: string;
  /** The run's parameters, encoded by encodeParams. */
  params: string;
  shard: Shard;
  /** Labels (or targets) of the shard's rows. */
  y: number[];
  /** SHA-256 of the model's bytes: an encoded ONNX model, or one `aegis encrypt` wrote, which stays encrypted in Redis. */
  model: string;
  /** The model's file name: what its signature names, and what an encrypted model's ciphertext is bound to (the worker decrypts it with its own key). */
  modelName?: string;
  /** Hash of the model's signature bundle, when the submitter found one (`aegis worker --pub` requires it). */
  signature?: string;
  /** SHA-256 of the encoded samples of the run. */
  samples: string;
  clipRange: [number, number];
  /** Samples per ONNX Runtime call, as the submitter's model has it. */
  batchSize: number;
  inputKind?: InputKind;
}

export interface AttackShardResult {
  /** SHA-256 of the shard's adversarial examples (a blob). */
  x: string;
  queries?: number[];
  brokenBy?: (string | null)[];
  attacks?: string[];
  /** Who ran it, for the log. */
  worker: string;
  /** Seconds in the attack, and in fetching and loading what it needed. */
  seconds: number;
  loadSeconds: number;
}

/** One shadow model to train: trainShadowModel(config, seed, rows of the pool). */
export interface ShadowModelJob extends CampaignJob {
  /** The model's index in its plan. */
  index: number;
  /** SHA-256 of everything the model depends on: configuration, pool, rows and seed. */
  digest: string;
  /** The ShadowConfig as JSON, a `like` architecture given by the hash of its (weightless) model. */
  config: string;
  seed: number;
  rows: number[];
  /** Hashes of the pool's inputs and labels (tensor blobs). */
  pool: { x: string; labels: string };
}

export interface ShadowModelResult {
  /** SHA-256 of the trained model's ONNX bytes (a blob). */
  model: string;
  worker: string;
  seconds: number;
}

/** The job id of a shadow model (no colon, as BullMQ wants). */
export function shadowJobId(job: Pick<ShadowModelJob, "campaign" | "index" | "digest">): string {
  return `${job.campaign}-shadow${job.index}-${job.digest.slice(0, 16)}`;
}

/** Samples [start, end) of a certification: certify(model, rows, settings), each sample's noise from its own seed. */
export interface CertifyShardJob extends CampaignJob {
  /** SHA-256 of the settings and the samples. */
  digest: string;
  /** The model (as AttackShardJob's). */
  model: string;
  modelName?: string;
  signature?: string;
  samples: string;
  start: number;
  end: number;
  settings: { sigma: number; n: number; n0: number; alpha: number; batchSize: number; seed: number };
}

export interface CertifyShardResult {
  certificates: { prediction: number | null; radius: number; pALower: number; count: number }[];
  worker: string;
  seconds: number;
  loadSeconds: number;
}

export function certifyJobId(job: Pick<CertifyShardJob, "campaign" | "digest" | "start" | "end" | "model">): string {
  return `${job.campaign}-certify-${job.digest.slice(0, 12)}-${job.start}-${job.end}-${job.model.slice(0, 16)}`;
}

/** Files to scan: each stored by its hash and scanned as the path it had on the submitter's machine. */
export interface ScanBatchJob extends CampaignJob {
  /** SHA-256 of the files' names and hashes and the limits. */
  digest: string;
  files: { name: string; hash: string }[];
  limits: ScanLimits;
}

export interface ScanBatchResult {
  files: FileReport[];
  worker: string;
  seconds: number;
}

export function scanJobId(job: Pick<ScanBatchJob, "campaign" | "digest">): string {
  return `${job.campaign}-scan-${job.digest.slice(0, 24)}`;
}

/** The chat endpoint red-team attempts go to; its API key is read on the worker from the variable named, never sent. */
export interface RedTeamTargetSpec {
  url: string;
  model: string;
  apiKeyEnv: string;
  stream: boolean;
  maxTokens: number;
  timeoutMs: number;
  retries: number;
  concurrency: number;
}

/** Red-team attempts [start, start + attempts.length) of a run. */
export interface RedTeamBatchJob extends CampaignJob {
  /** SHA-256 of the target and the attempts. */
  digest: string;
  start: number;
  target: RedTeamTargetSpec;
  attempts: PlannedAttempt[];
}

export interface RedTeamBatchResult {
  results: AttemptResult[];
  worker: string;
  seconds: number;
}

/**
 * A red-team job's progress: the attempts answered so far, by index in the batch. A retried
 * job (its worker killed, stalled or cut off) reads it back and asks the target only the
 * rest: a paid API is billed once per attempt, and a target may answer a second time otherwise.
 */
export interface RedTeamBatchProgress {
  percent: number;
  answered: Record<number, AttemptResult>;
}

/** The answers an earlier try of a job left in its progress, if it left any. */
export function answeredAttempts(progress: unknown, attempts: number): Map<number, AttemptResult> {
  const answered = new Map<number, AttemptResult>();
  if (typeof progress !== "object" || progress === null || !("answered" in progress)) return answered;
  for (const [key, result] of Object.entries((progress as RedTeamBatchProgress).answered ?? {})) {
    const index = Number(key);
    if (Number.isInteger(index) && index >= 0 && index < attempts && result) answered.set(index, result);
  }
  return answered;
}

export function redteamJobId(job: Pick<RedTeamBatchJob, "campaign" | "digest" | "start">): string {
  return `${job.campaign}-redteam-${job.digest.slice(0, 16)}-${job.start}`;
}

/** A job id BullMQ accepts (no colon) that names everything the result depends on. */
export function shardJobId(job: Pick<AttackShardJob, "campaign" | "run" | "runDigest" | "shard" | "model">): string {
  return `${job.campaign}-r${job.run}-${job.runDigest.slice(0, 12)}-s${job.shard.index}-${job.shard.seed}-${job.model.slice(0, 16)}`;
}

/** Tries per job: an error that is not the user's (a crash, a lost connection) gets two more. */
export const ATTEMPTS = 3;

/** JSON with the values attack parameters hold that JSON lacks: ±Infinity (C&W's "no limit") and Float32Array (constraints). */
export function encodeParams(params: Record<string, unknown>): string {
  return JSON.stringify(params, (_key, v) => {
    if (typeof v === "number" && !Number.isFinite(v)) return { $number: String(v) };
    if (v instanceof Float32Array) return { $float32: Array.from(v) };
    return v;
  });
}

export function decodeParams(text: string): CommonParams & Record<string, unknown> {
  return JSON.parse(text, (_key, v) => {
    if (v && typeof v === "object" && "$number" in v) return Number(v.$number);
    if (v && typeof v === "object" && "$float32" in v) return Float32Array.from(v.$float32);
    return v;
  });
}
