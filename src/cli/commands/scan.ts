import { Command } from "commander";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { SEVERITIES, type Severity } from "../../report/finding.js";
import { parseFormats, writeReports } from "../../report/write.js";
import {
  applyScanPolicy,
  failsAt,
  formatText,
  loadScanPolicy,
  renderScanHtml,
  renderScanJunit,
  renderScanMarkdown,
  renderScanSarif,
  SCAN_FORMATS,
  type ScanReport,
  scanPaths,
} from "../../supplychain/index.js";
import { info, printJson, progressBar } from "../common.js";
import { withJson, withOut } from "../options.js";
import { closeQueue, openQueue, type QueueOptions, withQueue } from "../queue.js";

/** Exit code when a finding is at or above --fail-on (README, "Exit codes"). */
export const SCAN_FINDINGS_EXIT = 11;

export function scanCommand(): Command {
  const cmd = new Command("scan")
    .description("scan model files, folders and archives for code execution, tampering and malformed content (nothing is loaded or run)")
    .argument("<paths...>", "files or folders")
    .option("--format <list>", `write reports into --out: ${SCAN_FORMATS.join(", ")} (comma-separated; without it the findings go to stdout only)`)
    .option("--sarif <file>", "also write a SARIF 2.1.0 report to this file")
    .option(
      "--fail-on <severity>",
      "exit 11 when a finding is at or above this severity: critical, high, medium or low (default: the policy's failOn, else high)",
    )
    .option("--policy <file>", "YAML/JSON policy: failOn, ignore (rule ids), severity (rule id → severity)");
  withOut(cmd, "report folder for --format", "aegis-scan");
  withJson(cmd, "the report");
  withQueue(cmd, "the scan (one job per batch of 16 files or 64 MB)");
  return cmd.action(
    async (paths: string[], opts: { json?: boolean; sarif?: string; format?: string; out: string; failOn?: string; policy?: string } & QueueOptions) => {
      const formats = opts.format === undefined ? [] : parseFormats(opts.format, SCAN_FORMATS);
      const policy = opts.policy ? loadScanPolicy(opts.policy) : undefined;
      const threshold = (opts.failOn?.toLowerCase() ?? policy?.failOn ?? "high") as Severity;
      if (!SEVERITIES.includes(threshold) || threshold === "info")
        throw new AegisError("BAD_OPTION", `--fail-on must be critical, high, medium or low, not "${opts.failOn}"`);
      let bar: ReturnType<typeof progressBar> | undefined;
      const campaign = await openQueue(opts);
      let scanned: ScanReport;
      try {
        scanned = await scanPaths(paths, {
          scanner: campaign?.scanFiles,
          onProgress: (file, i, total) => {
            // Small scans finish before a bar would be useful.
            if (total < 20) return;
            bar ??= progressBar("scan", total);
            bar.update(i, file);
          },
        });
      } finally {
        bar?.stop();
        await closeQueue(campaign);
      }
      const report = policy ? applyScanPolicy(scanned, policy) : scanned;
      if (opts.sarif) writeFileAtomic(opts.sarif, renderScanSarif(report));
      if (formats.length > 0) {
        const written = writeReports(opts.out, formats, {
          json: () => `${JSON.stringify(report, null, 2)}\n`,
          md: () => renderScanMarkdown(report),
          html: () => renderScanHtml(report),
          sarif: () => renderScanSarif(report),
          junit: () => renderScanJunit(report, threshold),
        });
        info(`wrote ${Object.values(written).join(", ")}`);
      }
      if (opts.json) printJson(report);
      else process.stdout.write(formatText(report));
      if (failsAt(report, threshold)) process.exitCode = SCAN_FINDINGS_EXIT;
    },
  );
}
