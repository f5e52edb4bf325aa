/** Public API of aegis-ml/campaigns: an audit's attack runs sharded over `aegis worker` processes on BullMQ. */

export { MAX_BLOB_BYTES, sha256 } from "./blobs.js";
export { connectionOptions, DEFAULT_PREFIX, type QueueTarget, redact } from "./connection.js";
export { ATTEMPTS, type AttackShardJob, type AttackShardResult, QUEUE_NAME, type RedTeamTargetSpec, shardJobId } from "./jobs.js";
export { type CampaignStatus, campaignStatus, cancelCampaign } from "./status.js";
export {
  type Campaign,
  type CampaignOptions,
  type CampaignStats,
  CERTIFY_SAMPLES_PER_JOB,
  type CertifySettings,
  campaignModel,
  openCampaign,
  REDTEAM_ATTEMPTS_PER_JOB,
  SCAN_BYTES_PER_JOB,
  SCAN_FILES_PER_JOB,
} from "./submit.js";
export { type CampaignWorker, startWorker, type WorkerOptions } from "./worker.js";
