import { Command } from "commander";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { applyScanPolicy, failsAt, formatSarif, formatText, loadScanPolicy } from "../../supplychain/report.js";
import { scanPaths } from "../../supplychain/scan.js";
import { SEVERITY_ORDER, type Severity } from "../../supplychain/types.js";
import { printJson, progressBar } from "../common.js";

/** Exit code when a finding is at or above --fail-on (README, "Exit codes"). */
export const SCAN_FINDINGS_EXIT = 11;

export function scanCommand(): Command {
  return new Command("scan")
    .description("scan model files, folders and archives for code execution, tampering and malformed content (nothing is loaded or run)")
    .argument("<paths...>", "files or folders")
    .option("--json", "print the report as JSON on stdout")
    .option("--sarif <file>", "also write a SARIF 2.1.0 report")
    .option(
      "--fail-on <severity>",
      "exit 11 when a finding is at or above this severity: critical, high, medium or low (default: the policy's failOn, else high)",
    )
    .option("--policy <file>", "YAML/JSON policy: failOn, ignore (rule ids), severity (rule id → severity)")
    .action(async (paths: string[], opts: { json?: boolean; sarif?: string; failOn?: string; policy?: string }) => {
      const policy = opts.policy ? loadScanPolicy(opts.policy) : undefined;
      const threshold = (opts.failOn?.toUpperCase() ?? policy?.failOn ?? "HIGH") as Severity;
      if (!SEVERITY_ORDER.includes(threshold) || threshold === "INFO")
        throw new AegisError("BAD_OPTION", `--fail-on must be critical, high, medium or low, not "${opts.failOn}"`);
      let bar: ReturnType<typeof progressBar> | undefined;
      const scanned = await scanPaths(paths, {
        onProgress: (file, i, total) => {
          // Small scans finish before a bar would be useful.
          if (total < 20) return;
          bar ??= progressBar("scan", total);
          bar.update(i, file);
        },
      });
      bar?.stop();
      const report = policy ? applyScanPolicy(scanned, policy) : scanned;
      if (opts.sarif) writeFileAtomic(opts.sarif, `${JSON.stringify(formatSarif(report), null, 2)}\n`);
      if (opts.json) printJson(report);
      else process.stdout.write(formatText(report));
      if (failsAt(report, threshold)) process.exitCode = SCAN_FINDINGS_EXIT;
    });
}
