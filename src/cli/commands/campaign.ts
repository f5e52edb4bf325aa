import { Command } from "commander";
import { type CampaignStatus, campaignStatus, cancelCampaign, DEFAULT_PREFIX } from "../../campaigns/index.js";
import { AegisError } from "../../errors.js";
import { interruptSignal, printJson, progressBar } from "../common.js";
import { withJson } from "../options.js";

export function campaignCommand(): Command {
  return new Command("campaign")
    .description("see, follow or cancel a campaign that a command with --queue started; collect its report by running that command again with --campaign ID")
    .addCommand(statusCommand())
    .addCommand(attachCommand())
    .addCommand(cancelCommand());
}

const withQueue = (cmd: Command) =>
  cmd
    .requiredOption("--queue <url>", "the campaign's Redis, e.g. redis://127.0.0.1:6379")
    .option("--prefix <name>", "key prefix of the campaign (aegis audit --queue-prefix)", DEFAULT_PREFIX);

function statusCommand(): Command {
  const cmd = withQueue(
    new Command("status").description("jobs of a campaign by state, the workers serving its queue, and the errors of failed jobs").argument("<id>"),
  );
  withJson(cmd, "the status");
  return cmd.action(async (id: string, opts) => {
    const status = await campaignStatus({ url: opts.queue, prefix: opts.prefix }, id);
    if (opts.json) printJson(status);
    else process.stdout.write(statusText(status));
  });
}

/** Follows a campaign from any machine until no job of it waits or runs; exit 13 when some failed. */
function attachCommand(): Command {
  return withQueue(
    new Command("attach")
      .description(
        "follow a campaign's jobs until they are all done (exits 13 if any failed); its report comes from running its command again with --campaign ID",
      )
      .argument("<id>"),
  ).action(async (id: string, opts) => {
    const target = { url: opts.queue, prefix: opts.prefix };
    const signal = interruptSignal();
    let status = await campaignStatus(target, id);
    const bar = progressBar(`campaign ${id}`, status.total);
    try {
      while (!signal.aborted) {
        const left = status.jobs.waiting + status.jobs.delayed + status.jobs.prioritized + status.jobs.active;
        bar.update(status.jobs.completed + status.jobs.failed, `${status.jobs.active} running, ${status.workers} workers`, status.total);
        if (left === 0 || status.cancelled) break;
        await new Promise((resolve) => setTimeout(resolve, ATTACH_POLL_MS));
        status = await campaignStatus(target, id);
      }
    } finally {
      bar.stop();
    }
    process.stdout.write(statusText(status));
    if (signal.aborted) throw new AegisError("INTERRUPTED", `stopped following campaign ${id}; its jobs go on (aegis campaign attach ${id} again)`);
    if (status.jobs.failed > 0) throw new AegisError("QUEUE_ERROR", `${status.jobs.failed} job${status.jobs.failed === 1 ? "" : "s"} of campaign ${id} failed`);
  });
}

const ATTACH_POLL_MS = 1000;

function cancelCommand(): Command {
  return withQueue(new Command("cancel").description("remove a campaign's waiting jobs and stop its submitter; running jobs finish").argument("<id>")).action(
    async (id: string, opts) => {
      const { removed, running } = await cancelCampaign({ url: opts.queue, prefix: opts.prefix }, id);
      process.stdout.write(`campaign ${id} cancelled: ${removed} waiting job${removed === 1 ? "" : "s"} removed, ${running} still running\n`);
    },
  );
}

function statusText(s: CampaignStatus): string {
  const waiting = s.jobs.waiting + s.jobs.delayed + s.jobs.prioritized;
  const lines = [
    `campaign ${s.id}${s.cancelled ? " (cancelled)" : ""}: ${s.jobs.completed} of ${s.total} jobs done, ${s.jobs.active} running, ${waiting} waiting, ${s.jobs.failed} failed; ${s.workers} worker${s.workers === 1 ? "" : "s"} connected`,
    ...s.failures.map((f) => `  failed ${f.job}: ${f.reason}`),
    "",
  ];
  return lines.join("\n");
}
