/**
 * The options and life cycle shared by commands whose work can run on `aegis worker`
 * processes (campaigns/). The campaign code (BullMQ, and every job kind's capability) is
 * loaded only when --queue is given, so a quick command like `aegis scan` starts as fast without it.
 */
import type { Command } from "commander";
import type { Campaign, CampaignOptions } from "../campaigns/index.js";
import { AegisError } from "../errors.js";
import { info } from "./common.js";

export interface QueueOptions {
  queue?: string;
  queuePrefix?: string;
  campaign?: string;
  queueStore?: string;
}

/** --queue, --queue-prefix and --campaign; `what` says which part of the command goes to the workers. */
export function withQueue(cmd: Command, what: string): Command {
  return cmd
    .option("--queue <url>", `run ${what} on \`aegis worker\` processes through this Redis (redis://host:6379); the report is the one a local run writes`)
    .option("--queue-prefix <name>", "key prefix of the campaign in that Redis (the workers' --prefix; default: aegis)")
    .option("--campaign <id>", "name the campaign; naming one again re-attaches to it: jobs already done are not run again (default: a new ID)")
    .option(
      "--queue-store <dir>",
      "keep the campaign's model and data in this directory, which every worker mounts (its --store), instead of Redis: for inputs over 256 MB",
    );
}

/**
 * The campaign the options ask for (null without --queue), with the model `model()` gives the
 * workers; a Redis that does not answer fails here, before anything heavy.
 */
export async function openQueue(
  opts: QueueOptions,
  model: () => Pick<CampaignOptions, "modelBytes" | "modelName" | "batchSize"> = () => ({}),
): Promise<Campaign | null> {
  if (opts.queue === undefined) {
    if (opts.campaign !== undefined) throw new AegisError("BAD_OPTION", "--campaign names a campaign on a queue: add --queue redis://…");
    if (opts.queueStore !== undefined) throw new AegisError("BAD_OPTION", "--queue-store is where a campaign keeps its inputs: add --queue redis://…");
    return null;
  }
  const { DEFAULT_PREFIX, openCampaign } = await import("../campaigns/index.js");
  return openCampaign({ url: opts.queue, prefix: opts.queuePrefix ?? DEFAULT_PREFIX, id: opts.campaign, store: opts.queueStore, ...model(), log: info });
}

/** Says what the campaign's jobs came to, and disconnects. */
export async function closeQueue(campaign: Campaign | null): Promise<void> {
  if (!campaign) return;
  const s = campaign.stats();
  info(`campaign ${campaign.id}: ${s.completed} of ${s.jobs} jobs done, ${s.failed} failed, ${s.stalled} stalled and retried`);
  await campaign.close();
}
