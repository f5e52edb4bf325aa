/**
 * The campaigns' own page, served by any worker with --metrics-port at `/`: every campaign on
 * the queue's prefix with its jobs by state and their kinds, the workers connected, and the
 * errors of failed jobs. Rendered on the server through the one report shell (no script; the
 * page reloads itself every few seconds), so it shows the same whichever worker serves it.
 */
import type { Queue } from "bullmq";
import { cards, esc, page } from "../report/html.js";

const STATES = ["waiting", "delayed", "prioritized", "active", "completed", "failed"] as const;
type State = (typeof STATES)[number];
const REFRESH_SECONDS = 5;

export interface CampaignRow {
  id: string;
  jobs: Record<State, number>;
  /** Job kinds (attack-shard, shadow-model, …) with how many of each. */
  kinds: Record<string, number>;
  failures: { job: string; reason: string }[];
}

export interface QueueOverview {
  campaigns: CampaignRow[];
  workers: string[];
}

/** Every campaign with jobs on the queue (finished jobs are kept a day), newest first, and the connected workers. */
export async function queueOverview(queue: Queue): Promise<QueueOverview> {
  const rows = new Map<string, CampaignRow & { newest: number }>();
  for (const state of STATES) {
    for (const job of await queue.getJobs([state])) {
      const id = (job?.data as { campaign?: unknown } | undefined)?.campaign;
      if (typeof id !== "string") continue;
      let row = rows.get(id);
      if (!row) {
        row = { id, jobs: Object.fromEntries(STATES.map((s) => [s, 0])) as Record<State, number>, kinds: {}, failures: [], newest: 0 };
        rows.set(id, row);
      }
      row.jobs[state]++;
      row.kinds[job.name] = (row.kinds[job.name] ?? 0) + 1;
      row.newest = Math.max(row.newest, job.timestamp);
      if (state === "failed") row.failures.push({ job: job.id as string, reason: job.failedReason });
    }
  }
  const campaigns = [...rows.values()].sort((a, b) => b.newest - a.newest).map(({ newest: _, ...row }) => row);
  // BullMQ names a worker's connection "<queue client>:w:<worker name>" (Aegis's: host:pid).
  const workers = (await queue.getWorkers()).map((w) => String(w.rawname ?? "").split(":w:")[1] ?? String(w.addr ?? "unnamed")).sort();
  return { campaigns, workers };
}

export function renderCampaignPage(overview: QueueOverview, prefix: string): string {
  const total = (row: CampaignRow) => STATES.reduce((sum, s) => sum + row.jobs[s], 0);
  const waiting = (row: CampaignRow) => row.jobs.waiting + row.jobs.delayed + row.jobs.prioritized;
  const rows = overview.campaigns.map(
    (c) =>
      `<tr data-campaign="${esc(c.id)}"><td><code>${esc(c.id)}</code></td><td>${esc(
        Object.entries(c.kinds)
          .map(([kind, n]) => `${kind} ×${n}`)
          .join(", "),
      )}</td><td>${c.jobs.completed} / ${total(c)}</td><td>${c.jobs.active}</td><td>${waiting(c)}</td><td>${c.jobs.failed}</td></tr>`,
  );
  const failures = overview.campaigns.flatMap((c) => c.failures.map((f) => `<li><code>${esc(f.job)}</code>: ${esc(f.reason)}</li>`));
  return page(`Aegis campaigns (${prefix})`, [
    `<h1>Campaigns on prefix <code>${esc(prefix)}</code></h1>`,
    cards([
      ["campaigns", String(overview.campaigns.length), "with jobs kept on the queue"],
      ["workers", String(overview.workers.length), "connected now"],
      ["running", String(overview.campaigns.reduce((s, c) => s + c.jobs.active, 0)), "jobs"],
      ["waiting", String(overview.campaigns.reduce((s, c) => s + waiting(c), 0)), "jobs"],
    ]),
    `<section><h2>Campaigns</h2>${
      rows.length === 0
        ? "<p>No campaign has jobs on this queue.</p>"
        : `<table id="campaigns"><thead><tr><th>campaign</th><th>jobs</th><th>done</th><th>running</th><th>waiting</th><th>failed</th></tr></thead><tbody>${rows.join("")}</tbody></table>`
    }</section>`,
    `<section><h2>Workers</h2><ul id="workers">${overview.workers.map((w) => `<li><code>${esc(w)}</code></li>`).join("")}</ul></section>`,
    failures.length === 0 ? "" : `<section><h2>Failed jobs</h2><ul id="failures">${failures.join("")}</ul></section>`,
  ]).replace("<head>", `<head>\n<meta http-equiv="refresh" content="${REFRESH_SECONDS}">`);
}
