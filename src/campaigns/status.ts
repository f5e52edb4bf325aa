/**
 * A campaign seen from outside its submitter: how many of its jobs wait, run, are done or
 * failed (with their errors), how many workers serve the queue; and cancelling it, which
 * removes its waiting jobs and marks it so its submitter stops (running jobs finish).
 */
import { type Job, Queue } from "bullmq";
import { AegisError } from "../errors.js";
import { connectionOptions, openRedis, type QueueTarget } from "./connection.js";
import { QUEUE_NAME } from "./jobs.js";
import { cancelKey, checkCampaignId } from "./submit.js";

const STATES = ["waiting", "delayed", "prioritized", "active", "completed", "failed"] as const;
type State = (typeof STATES)[number];

export interface CampaignStatus {
  id: string;
  jobs: Record<State, number>;
  total: number;
  workers: number;
  cancelled: boolean;
  /** The failed jobs and why. */
  failures: { job: string; reason: string }[];
}

export async function campaignStatus(target: QueueTarget, id: string): Promise<CampaignStatus> {
  return withQueue(target, id, async (queue, jobsOf, isCancelled) => {
    const jobs = Object.fromEntries(await Promise.all(STATES.map(async (s) => [s, (await jobsOf(s)).length]))) as Record<State, number>;
    const failures = (await jobsOf("failed")).map((j) => ({ job: j.id as string, reason: j.failedReason }));
    const total = Object.values(jobs).reduce((a, b) => a + b, 0);
    if (total === 0 && !(await isCancelled()))
      throw new AegisError("NOT_FOUND", `no campaign ${id} on this queue (its jobs are kept a day once done); check the ID and --prefix`);
    return { id, jobs, total, workers: await queue.getWorkersCount(), cancelled: await isCancelled(), failures };
  });
}

/** Removes the campaign's waiting jobs and marks it cancelled; returns how many were removed and how many still run. */
export async function cancelCampaign(target: QueueTarget, id: string): Promise<{ removed: number; running: number }> {
  const redis = await openRedis(target.url);
  try {
    await redis.set(cancelKey(target.prefix, id), "1", "EX", 7 * 24 * 3600);
  } finally {
    redis.disconnect();
  }
  return withQueue(target, id, async (_queue, jobsOf) => {
    const waiting = [...(await jobsOf("waiting")), ...(await jobsOf("delayed")), ...(await jobsOf("prioritized"))];
    const results = await Promise.all(
      waiting.map((j) =>
        j.remove().then(
          () => true,
          () => false,
        ),
      ),
    );
    return { removed: results.filter(Boolean).length, running: (await jobsOf("active")).length };
  });
}

async function withQueue<T>(
  target: QueueTarget,
  id: string,
  use: (queue: Queue, jobsOf: (state: State) => Promise<Job[]>, isCancelled: () => Promise<boolean>) => Promise<T>,
): Promise<T> {
  checkCampaignId(id);
  const redis = await openRedis(target.url);
  const queue = new Queue(QUEUE_NAME, { connection: connectionOptions(target.url), prefix: target.prefix });
  try {
    const jobsOf = async (state: State) => (await queue.getJobs([state])).filter((j) => j?.id?.startsWith(`${id}-`));
    return await use(queue, jobsOf, async () => (await redis.exists(cancelKey(target.prefix, id))) === 1);
  } finally {
    await queue.close();
    redis.disconnect();
  }
}
