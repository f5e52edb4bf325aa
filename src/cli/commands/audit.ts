import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import type { Capability } from "../../attacks/types.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { summarizeModel } from "../../engine/inspect.js";
import { AegisError } from "../../errors.js";
import { loadModel } from "../../onnx/io.js";
import { runAudit } from "../../report/audit.js";
import { applyOverrides, defaultAuditConfig, loadAuditConfig } from "../../report/config.js";
import { ensembleText } from "../../report/findings.js";
import { loadPolicy } from "../../report/policy.js";
import type { AuditReport } from "../../report/types.js";
import { writeAuditReports } from "../../report/write.js";
import {
  addDataOptions,
  addRuntimeOptions,
  info,
  interruptSignal,
  labelsOrFail,
  loadData,
  parseInteger,
  printJson,
  progressBar,
  runtimeOptions,
} from "../common.js";

export const DEMO_MODEL = fileURLToPath(new URL("../../../models/mnist-cnn.onnx", import.meta.url));

export function auditCommand(): Command {
  const cmd = new Command("audit")
    .description("audit a model against a suite of evasion attacks; writes report.json, report.html and report.md, and exits 10 when a policy fails")
    .option("--model <file>", "ONNX model (default: the bundled MNIST CNN)", DEMO_MODEL)
    .option("--data <spec>", "evaluation data (default: mnist's 2,000-sample test split)", "mnist")
    .option("--config <audit.yaml>", "the suite: attacks, ε lists, norms, parameters, samples, seed (default: the built-in suite)")
    .option("--policy <policy.yaml>", "thresholds to enforce: min_clean_accuracy, min_robust_accuracy, max_success_rate, …")
    .option("--out <dir>", "report folder", "aegis-report")
    .option("--attacks <ids>", "run only these suite entries (comma-separated ids)")
    .option("--samples <n>", "at most n samples for every attack", parseInteger("--samples", 1))
    .option("--eps <list>", "replace the ε list of every curve (comma-separated)")
    .option("--seed <s>", "seed of random starts and targets", parseInteger("--seed", 0))
    .option("--batch-size <n>", "samples per model call", parseInteger("--batch-size", 1))
    .option("--json", "print the report as JSON on stdout");
  addDataOptions(cmd);
  addRuntimeOptions(cmd);
  return cmd.action(async (opts) => {
    const config = applyOverrides(opts.config ? loadAuditConfig(opts.config) : defaultAuditConfig(), {
      samples: opts.samples,
      eps: opts.eps === undefined ? undefined : parseEpsList(opts.eps),
      attacks:
        opts.attacks === undefined
          ? undefined
          : String(opts.attacks)
              .split(",")
              .map((s) => s.trim()),
      seed: opts.seed,
      batchSize: opts.batchSize,
    });
    // Checked before anything runs: a typo in a policy should not cost a whole audit.
    const policy = opts.policy ? loadPolicy(opts.policy, config) : undefined;
    const summary = summarizeModel(loadModel(opts.model));
    const data = loadData(opts.data, opts);
    labelsOrFail(data, "an audit");
    const model = await OnnxClassifier.fromFile(opts.model, { ...runtimeOptions(opts), batchSize: config.batchSize });
    const capabilities = new Set<Capability>(summary.differentiable ? ["predict", "lossGradient", "classGradient"] : ["predict"]);
    const n = Math.min(config.samples, data.x.shape[0]);
    info(`auditing ${opts.model} on ${n} samples of ${data.name}: ${config.attacks.map((e) => e.id).join(", ")}`);
    const signal = interruptSignal();
    let result: Awaited<ReturnType<typeof runAudit>>;
    try {
      result = await runAudit({
        model,
        capabilities,
        modelPath: opts.model,
        summary,
        data,
        config,
        policy,
        signal,
        log: info,
        progress: progressBar,
      });
    } finally {
      await model.release();
    }
    const paths = writeAuditReports(opts.out, result);
    const { report } = result;
    if (opts.json) printJson(report);
    else process.stdout.write(summaryText(report, paths.html));
    if (report.interrupted) throw new AegisError("INTERRUPTED", `interrupted; ${paths.json} covers the runs that finished`);
    if (report.policy && !report.policy.passed) {
      const failed = report.policy.rules.filter((r) => !r.passed);
      throw new AegisError(
        "POLICY_FAILED",
        `policy failed: ${failed.length} of ${report.policy.rules.length} rules not met (${failed.map((r) => r.detail).join("; ")}); see ${join(opts.out, "report.html")}`,
      );
    }
  });
}

function parseEpsList(value: string): number[] {
  const list = String(value)
    .split(",")
    .map((s) => Number(s.trim()));
  if (list.some((e) => !Number.isFinite(e) || e < 0)) throw new AegisError("BAD_OPTION", `--eps must be a comma-separated list of numbers ≥ 0, not "${value}"`);
  return list;
}

function summaryText(r: AuditReport, html: string): string {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`.padStart(6);
  const width = Math.max(14, ...r.attacks.map((a) => a.id.length + 8));
  const lines = [`${"clean accuracy".padEnd(width)} ${pct(r.clean_accuracy)}  (${r.data.samples} samples of ${r.data.name})`];
  for (const a of r.attacks) {
    if (a.runs.length === 0) lines.push(`${a.id.padEnd(width)} ${a.status}: ${a.reason ?? ""}`);
    for (const p of a.runs) {
      const key = `${a.id}${p.eps === null ? "" : ` ε=${p.eps}`}`;
      const extra = a.kind === "minimum-norm" ? `, mean L2 ${p.perturbation.l2_mean.toFixed(3)}` : "";
      lines.push(`${key.padEnd(width)} ${pct(p.robust_accuracy)}  robust accuracy, success ${pct(p.success_rate).trim()}${extra}`);
      if (p.ensemble) lines.push(`${" ".repeat(width + 9)}${ensembleText(p.ensemble)}`);
    }
  }
  const bySeverity = ["high", "medium", "low", "info"]
    .map((s) => [s, r.findings.filter((f) => f.severity === s).length] as const)
    .filter(([, c]) => c > 0)
    .map(([s, c]) => `${c} ${s}`);
  lines.push(`${"findings".padEnd(width)} ${bySeverity.join(", ") || "none"}`);
  if (r.policy)
    lines.push(
      `${"policy".padEnd(width)} ${r.policy.passed ? "passed" : "FAILED"} (${r.policy.rules.filter((x) => x.passed).length}/${r.policy.rules.length} rules met)`,
    );
  lines.push(`${"report".padEnd(width)} ${html} (and report.md, report.json)`, "");
  return lines.join("\n");
}
