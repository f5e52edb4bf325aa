import { Command } from "commander";
import { type CampaignStatus, campaignStatus, cancelCampaign, DEFAULT_PREFIX } from "../../campaigns/index.js";
import { printJson } from "../common.js";
import { withJson } from "../options.js";

export function campaignCommand(): Command {
  return new Command("campaign")
    .description("see or cancel a campaign that `aegis audit --queue` started; re-attach by running the audit again with --campaign ID")
    .addCommand(statusCommand())
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
