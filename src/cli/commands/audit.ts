import { fileURLToPath } from "node:url";
import { Command } from "commander";
import {
  loadConstraintsFile,
  loadManifest,
  MEMBERSHIP_ATTACK_INFO,
  MEMBERSHIP_ATTACKS,
  type MembershipAttackName,
  type ShadowTrainer,
} from "../../attacks/index.js";
import type { AuditReport } from "../../audit/index.js";
import {
  AUDIT_FORMATS,
  type AuditResult,
  applyOverrides,
  type BackdoorAuditOptions,
  budgetText,
  CHEAP_PRIVACY_ATTACKS,
  type ComparisonReport,
  DEFAULT_AUDIT_FORMATS,
  defaultAuditConfig,
  defaultLabels,
  defaultPrivacyAttacks,
  defenceAttackText,
  defenceText,
  durationText,
  ensembleText,
  isComparison,
  loadAuditConfig,
  loadPolicy,
  type PrivacyAuditOptions,
  parseDuration,
  runAudit,
  runComparison,
  SHADOW_PRIVACY_ATTACKS,
  writeAuditReports,
} from "../../audit/index.js";
import { campaignModel } from "../../campaigns/index.js";
import { requireLabels } from "../../data/labels.js";
import { capabilitiesOf } from "../../engine/capabilities.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { type InputKind, inputKind, kindText } from "../../engine/input-kind.js";
import { summarizeModel } from "../../engine/inspect.js";
import { AegisError } from "../../errors.js";
import { loadModel } from "../../onnx/io.js";
import { severitySummary } from "../../report/finding.js";
import { parseFormats } from "../../report/write.js";
import { sizeOf } from "../../tensor.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import { addDefenceOptions, openDefenceTarget } from "../defence-target.js";
import { loadMembershipData, parseAugment, parseMembershipAttacks, shadowSetup, withMembershipData, withShadowTraining } from "../membership-options.js";
import {
  parseEpsilons,
  parseInteger,
  runtimeOptions,
  withBatchSize,
  withData,
  withFormat,
  withJson,
  withOut,
  withRuntime,
  withSamples,
  withSeed,
} from "../options.js";
import { closeQueue, openQueue, withQueue } from "../queue.js";

export const DEMO_MODEL = fileURLToPath(new URL("../../../models/mnist-cnn.onnx", import.meta.url));

export function auditCommand(): Command {
  const cmd = new Command("audit")
    .description(
      "audit a model against a suite of evasion attacks, through its `aegis defend` defences (--defence), or two side by side (--compare), for membership inference (--privacy) and for a poisoning attack's success (--backdoor); writes report.json, report.html and report.md, and exits 10 when a policy fails",
    )
    .option("--model <file>", "ONNX model (default: the bundled MNIST CNN)", DEMO_MODEL);
  addDefenceOptions(cmd)
    .option(
      "--compare <models...>",
      "two ONNX models, baseline then candidate: the same suite on both, one report side by side; a policy is judged on the candidate",
    )
    .option("--labels <a,b>", "names of the two compared models in the report (default: their file names)")
    .option(
      "--config <audit.yaml>",
      "the suite: attacks, ε lists, norms, parameters, samples, seed, time_budget (default: the built-in suite for the model's input: images, tabular rows or sequences)",
    )
    .option("--policy <policy.yaml>", "thresholds to enforce: min_clean_accuracy, min_robust_accuracy, max_success_rate, …")
    .option("--attacks <ids>", "run only these suite entries (comma-separated ids)")
    .option("--eps <list>", "replace the ε list of every curve (comma-separated)")
    .option(
      "--time-budget <duration>",
      "fit the audit into this time (300, 90s, 10m, 1h30m): warms every attack up, then cuts samples, then iterations, and the report states what it cut",
    )
    .option("--estimate", "warm every attack up first and print what the suite will cost before running it (always done with --time-budget)")
    .option("--constraints <file>", "tabular feature constraints every attack keeps (JSON: lower, upper, immutable, integer, one_hot)")
    .option(
      "--privacy",
      "add a privacy section: membership inference on --members and --non-members, with the attacker's --reference data (cheap attacks; offline LiRA and RMIA with --shadows)",
    );
  cmd.option(
    "--backdoor <poison.json>",
    "add a poisoning section: clean accuracy and the attack success rate of the attack a poison manifest describes (aegis poison --manifest, or another tool's), on all of --data",
  );
  withQueue(cmd, "the attacks' shards");
  withMembershipData(cmd, true)
    .option(
      "--privacy-attacks <list>",
      `with --privacy: comma-separated, of ${MEMBERSHIP_ATTACKS.join(", ")} (default: ${CHEAP_PRIVACY_ATTACKS.join(", ")}; with --shadows also ${SHADOW_PRIVACY_ATTACKS.join(", ")})`,
    )
    .option(
      "--shadows <n>",
      "with --privacy: shadow models to train for LiRA and RMIA (0: only the attacks that need none; 16 is LiRA's offline setting)",
      parseInteger("--shadows", 0),
      0,
    );
  withShadowTraining(cmd);
  withData(cmd, "evaluation data (mnist: its 2,000-sample test split)", "mnist");
  withSamples(cmd, "at most n samples for every attack");
  withSeed(cmd, "random starts and targets (default: the suite's)", null);
  withBatchSize(cmd, undefined, "samples per model call (default: the suite's)");
  withOut(cmd, "report folder", "aegis-report");
  withFormat(cmd, AUDIT_FORMATS, DEFAULT_AUDIT_FORMATS);
  withJson(cmd, "the report");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    const formats = parseFormats(opts.format, AUDIT_FORMATS);
    const compared = comparedPaths(opts, cmd.getOptionValueSource("model") === "cli");
    checkDefenceOptions(opts, cmd);
    const privacyAttacks = checkPrivacyOptions(opts);
    const backdoor = backdoorOptions(opts);
    if (opts.queue !== undefined && (opts.compare !== undefined || opts.defence !== undefined))
      throw new AegisError("BAD_OPTION", "--queue runs a single plain ONNX model for now: drop --compare or --defence, or run without --queue");
    const overrides = {
      samples: opts.samples,
      eps: opts.eps === undefined ? undefined : parseEpsilons("--eps", opts.eps),
      attacks:
        opts.attacks === undefined
          ? undefined
          : String(opts.attacks)
              .split(",")
              .map((s) => s.trim()),
      seed: opts.seed,
      batchSize: opts.batchSize,
      timeBudget: opts.timeBudget === undefined ? undefined : parseDuration("--time-budget", String(opts.timeBudget)),
    };
    const fileConfig = opts.config ? loadAuditConfig(opts.config) : null;
    // The built-in suite follows the model's input; every kind's has the same batch size.
    const suiteFor = (kind?: InputKind) => applyOverrides(fileConfig ?? defaultAuditConfig(kind), overrides);
    // Every model file is read before the data, so a wrong path fails at once.
    const defence = opts.defence ? await openDefenceTarget({ ...opts, batchSize: suiteFor().batchSize }) : null;
    const modelPaths = defence ? [defence.deployedFile] : (compared?.paths ?? [opts.model as string]);
    const graphs = modelPaths.map((path) => loadModel(path));
    const kind = inputKind(graphs[0]);
    const config = suiteFor(kind);
    // Checked before anything runs: a typo in a policy should not cost a whole audit.
    const policy = opts.policy ? loadPolicy(opts.policy, config) : undefined;
    const opened: { release(): Promise<void> }[] = defence ? [defence.model] : [];
    // Before anything heavy: a Redis that does not answer should fail at once.
    const campaign = await openQueue(opts, () => ({ ...campaignModel(modelPaths[0], graphs[0]), batchSize: config.batchSize }));
    const open = async (path: string) => {
      const model = await OnnxClassifier.fromFile(path, { ...runtimeOptions(opts), batchSize: config.batchSize });
      opened.push(model);
      return model;
    };
    const signal = interruptSignal();
    let result: AuditResult;
    try {
      // A defended model is described as deployed; its gradients come from the file the attacks go through.
      const summaries = await Promise.all(graphs.map((graph) => summarizeModel(graph, runtimeOptions(opts))));
      const attackedSummary =
        defence && defence.attackedFile !== defence.deployedFile ? await summarizeModel(loadModel(defence.attackedFile), runtimeOptions(opts)) : summaries[0];
      const data = loadData(opts.data, opts);
      requireLabels(data, "an audit");

      const n = Math.min(config.samples, data.x.shape[0]);
      const constraints = opts.constraints ? loadConstraintsFile(opts.constraints, sizeOf(data.x.shape.slice(1))) : undefined;
      const shared = {
        data,
        config,
        policy,
        signal,
        inputKind: kind,
        constraints,
        estimate: Boolean(opts.estimate),
        clockStart: 0,
        log: info,
        progress: progressBar,
      };
      const budget = config.timeBudget === undefined ? "" : ` within ${durationText(config.timeBudget)}`;
      const suite = `${config.attacks.map((e) => e.id).join(", ")}${budget} (${kindText(kind)}${fileConfig ? "" : ": the built-in suite for them"})`;
      if (compared) {
        const classifiers = [await open(modelPaths[0]), await open(modelPaths[1])];
        info(`comparing ${compared.labels.join(" and ")} on ${n} samples of ${data.name}: ${suite}`);
        const side = (i: number) => ({
          label: compared.labels[i],
          model: classifiers[i],
          capabilities: capabilitiesOf(classifiers[i], summaries[i].differentiable),
          modelPath: modelPaths[i],
          summary: summaries[i],
        });
        result = await runComparison({ ...shared, baseline: side(0), candidate: side(1) });
      } else {
        const model = defence?.model ?? (await open(modelPaths[0]));
        const through = defence ? ` through ${defenceText(defence.record)}, attacked ${defence.record.adaptive ? "adaptively" : "non-adaptively"},` : "";
        info(`auditing ${modelPaths[0]}${through} on ${n} samples of ${data.name}: ${suite}`);
        result = await runAudit({
          ...shared,
          model,
          capabilities: capabilitiesOf(model, attackedSummary.differentiable),
          modelPath: modelPaths[0],
          summary: summaries[0],
          defence: defence?.record ?? null,
          executor: campaign?.executor,
          privacy: privacyAttacks ? privacyOptions(opts, modelPaths[0], model.numClasses, privacyAttacks, campaign?.shadowTrainer) : undefined,
          backdoor,
        });
      }
    } finally {
      for (const m of opened) await m.release();
      await closeQueue(campaign);
    }
    const paths = writeAuditReports(opts.out, result, formats);
    const written = Object.values(paths);
    const { report } = result;
    if (opts.json) printJson(report);
    else process.stdout.write(isComparison(report) ? comparisonText(report, written) : summaryText(report, written));
    if (report.interrupted) throw new AegisError("INTERRUPTED", `interrupted; the reports in ${opts.out} cover the runs that finished`);
    if (report.policy && !report.policy.passed) {
      const failed = report.policy.rules.filter((r) => !r.passed);
      const judged = compared ? ` by ${compared.labels[1]}` : "";
      throw new AegisError(
        "POLICY_FAILED",
        `policy failed${judged}: ${failed.length} of ${report.policy.rules.length} rules not met (${failed.map((r) => r.detail).join("; ")}); see ${paths.html ?? written[0]}`,
      );
    }
  });
}

/** --defence names the model itself, and one defended model is audited at a time; --non-adaptive and --eot only mean something with it. */
function checkDefenceOptions(opts: { defence?: string; compare?: string[]; nonAdaptive?: boolean }, cmd: Command): void {
  if (opts.defence === undefined) {
    const stray = [opts.nonAdaptive ? "--non-adaptive" : null, cmd.getOptionValueSource("eot") === "cli" ? "--eot" : null].filter((f) => f !== null);
    if (stray.length > 0)
      throw new AegisError(
        "BAD_OPTION",
        `${stray.join(" and ")} ${stray.length > 1 ? "apply" : "applies"} only to a defended model: add --defence M.defence.json (written by aegis defend)`,
      );
    return;
  }
  if (opts.compare !== undefined)
    throw new AegisError(
      "BAD_OPTION",
      "--defence cannot be combined with --compare, which takes plain ONNX models: audit the defended model alone with --defence (its report records the defence and how it was attacked), and the undefended one with --model into another --out folder",
    );
  if (cmd.getOptionValueSource("model") === "cli")
    throw new AegisError("BAD_OPTION", "--defence names the model to audit (the one aegis defend wrote next to it); drop --model");
}

/** The privacy attacks to run (null without --privacy), after checking the flags that go with them. */
function checkPrivacyOptions(opts: Record<string, unknown>): MembershipAttackName[] | null {
  const data = ["members", "nonMembers", "reference"] as const;
  const flag = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  if (!opts.privacy) {
    const stray = [...data, "privacyAttacks"].filter((key) => opts[key] !== undefined).map(flag);
    if ((opts.shadows as number) > 0) stray.push("--shadows");
    if (stray.length > 0) throw new AegisError("BAD_OPTION", `${stray.join(", ")} ${stray.length > 1 ? "go" : "goes"} with --privacy: add it`);
    return null;
  }
  if (opts.compare !== undefined)
    throw new AegisError("BAD_OPTION", "--privacy audits one model: run it on each model of --compare separately, with --model and its own --members");
  const missing = data.filter((key) => opts[key] === undefined).map(flag);
  if (missing.length > 0)
    throw new AegisError(
      "BAD_OPTION",
      `--privacy needs ${missing.join(", ")}: samples the model trained on, samples it never saw, and the attacker's own data (e.g. --members mnist:train:0-500 --non-members mnist:test:0-500 --reference mnist:train:4000-8000)`,
    );
  const shadows = (opts.shadows as number) > 0;
  const attacks = opts.privacyAttacks === undefined ? defaultPrivacyAttacks(shadows) : parseMembershipAttacks("--privacy-attacks", String(opts.privacyAttacks));
  const needy = attacks.filter((a) => MEMBERSHIP_ATTACK_INFO[a].shadows !== "none");
  if (!shadows && needy.length > 0)
    throw new AegisError(
      "BAD_OPTION",
      `${needy.join(", ")} ${needy.length > 1 ? "need" : "needs"} shadow models: add --shadows N (LiRA's offline setting uses 16)`,
    );
  return attacks;
}

/** The manifest of --backdoor, read before the suite runs so that a bad file fails at once. */
function backdoorOptions(opts: { backdoor?: string; compare?: string[] }): BackdoorAuditOptions | undefined {
  if (opts.backdoor === undefined) return undefined;
  if (opts.compare !== undefined) throw new AegisError("BAD_OPTION", "--backdoor audits one model: run it on each model of --compare separately, with --model");
  return { manifest: loadManifest(opts.backdoor), manifestPath: opts.backdoor };
}

/** The privacy section's settings; with a campaign, its shadow models train on the workers. */
function privacyOptions(
  opts: Record<string, unknown>,
  modelPath: string,
  numClasses: number,
  attacks: MembershipAttackName[],
  trainer: ShadowTrainer | undefined,
): PrivacyAuditOptions {
  const { members, nonMembers, reference } = loadMembershipData(opts as Parameters<typeof loadMembershipData>[0]);
  const shadows = opts.shadows as number;
  return {
    members: members.data,
    nonMembers: nonMembers.data,
    reference: reference.data,
    sources: { members: members.name, non_members: nonMembers.name, reference: reference.name },
    attacks,
    shadow: shadows > 0 ? { ...shadowSetup(opts, modelPath, numClasses, shadows, members.data.labels.length), trainer } : undefined,
    augment: parseAugment(opts.augment as string | undefined),
    seed: opts.seed as number | undefined,
  };
}

/** --compare's two files and their labels, or null for a single-model audit. */
function comparedPaths(opts: { compare?: string[]; labels?: string }, modelGiven: boolean): { paths: [string, string]; labels: [string, string] } | null {
  if (opts.compare === undefined) {
    if (opts.labels !== undefined) throw new AegisError("BAD_OPTION", "--labels names the two models of --compare; add --compare base.onnx candidate.onnx");
    return null;
  }
  if (opts.compare.length !== 2)
    throw new AegisError(
      "BAD_OPTION",
      `--compare takes two ONNX models, the baseline then the candidate (aegis audit --compare base.onnx hardened.onnx), not ${opts.compare.length}`,
    );
  if (modelGiven) throw new AegisError("BAD_OPTION", "--model and --compare cannot be combined: give both models to --compare");
  const paths: [string, string] = [opts.compare[0], opts.compare[1]];
  if (opts.labels === undefined) return { paths, labels: defaultLabels(...paths) };
  const labels = String(opts.labels)
    .split(",")
    .map((s) => s.trim());
  if (labels.length !== 2 || labels.some((l) => l === "") || labels[0] === labels[1])
    throw new AegisError("BAD_OPTION", `--labels takes two different names separated by a comma (e.g. --labels base,hardened), not "${opts.labels}"`);
  return { paths, labels: [labels[0], labels[1]] };
}

function summaryText(r: AuditReport, written: readonly string[]): string {
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`.padStart(6);
  const width = Math.max(14, ...r.attacks.map((a) => a.id.length + 8), ...(r.privacy?.membership.attacks ?? []).map((a) => a.attack.length + 9));
  const lines = [`${"clean accuracy".padEnd(width)} ${pct(r.clean_accuracy)}  (${r.data.samples} samples of ${r.data.name})`];
  const defence = r.model.defence;
  if (defence) lines.unshift(`${"defence".padEnd(width)} ${defenceText(defence)}, attacked ${defenceAttackText(defence)}`);
  for (const a of r.attacks) {
    if (a.runs.length === 0) lines.push(`${a.id.padEnd(width)} ${a.status}: ${a.reason ?? ""}`);
    for (const p of a.runs) {
      const key = `${a.id}${p.eps === null ? "" : ` ε=${p.eps}`}`;
      const extra = a.kind === "minimum-norm" ? `, mean L2 ${p.perturbation.l2_mean.toFixed(3)}` : "";
      lines.push(`${key.padEnd(width)} ${pct(p.robust_accuracy)}  robust accuracy, success ${pct(p.success_rate).trim()}${extra}`);
      if (p.ensemble) lines.push(`${" ".repeat(width + 9)}${ensembleText(p.ensemble)}`);
    }
  }
  if (r.budget) lines.push(`${"budget".padEnd(width)} ${budgetText(r.budget)}`);
  for (const a of r.privacy?.membership.attacks ?? [])
    lines.push(
      `${`privacy ${a.attack}`.padEnd(width)} AUC ${a.auc.toFixed(3)}, TPR ${pct(a.tpr_at_low_fpr[0].tpr).trim()} at 0.1% FPR, ${pct(a.tpr_at_low_fpr[1].tpr).trim()} at 1%`,
    );
  const b = r.backdoor?.result;
  if (b)
    lines.push(
      `${"backdoor".padEnd(width)} ${pct(b.attack_success_rate)}  attack success (${b.measures}), clean accuracy ${pct(b.clean_accuracy).trim()} on ${b.samples} samples`,
    );
  lines.push(`${"findings".padEnd(width)} ${severitySummary(r.findings)}`);
  if (r.policy)
    lines.push(
      `${"policy".padEnd(width)} ${r.policy.passed ? "passed" : "FAILED"} (${r.policy.rules.filter((x) => x.passed).length}/${r.policy.rules.length} rules met)`,
    );
  lines.push(`${"report".padEnd(width)} ${written.join(", ")}`, "");
  return lines.join("\n");
}

function comparisonText(r: ComparisonReport, written: readonly string[]): string {
  const c = r.comparison;
  const column = Math.max(10, c.baseline_label.length, c.candidate_label.length);
  const value = (v: number | "unbounded" | null, metric: string) =>
    (v === null ? "not run" : v === "unbounded" ? "unbounded" : metric === "robust_accuracy" ? `${(v * 100).toFixed(1)}%` : v.toFixed(3)).padStart(column);
  const sign = (d: number) => (d > 0 ? "+" : d < 0 ? "−" : "±");
  const delta = (d: number | null, metric: string) =>
    d === null ? "" : metric === "robust_accuracy" ? `${sign(d)}${Math.abs(d * 100).toFixed(1)} pts` : `${sign(d)}${Math.abs(d).toFixed(3)}`;
  const width = Math.max(16, ...c.rows.map((x) => x.key.length + 10));
  const lines = [
    `${"".padEnd(width)} ${c.baseline_label.padStart(column)} ${c.candidate_label.padStart(column)}  Δ`,
    `${"clean accuracy".padEnd(width)} ${value(c.clean_accuracy.baseline, "robust_accuracy")} ${value(c.clean_accuracy.candidate, "robust_accuracy")}  ${delta(c.clean_accuracy.delta, "robust_accuracy")}`,
  ];
  for (const x of c.rows) {
    const name =
      x.metric === "robust_accuracy" ? `${x.attack}${x.eps === null ? "" : ` ε=${x.eps}`}` : `${x.attack} median ${x.norm === "inf" ? "L∞" : `L${x.norm}`}`;
    lines.push(
      `${name.padEnd(width)} ${value(x.baseline, x.metric)} ${value(x.candidate, x.metric)}  ${delta(x.delta, x.metric)}${x.note ? `  (${x.note})` : ""}`,
    );
  }
  lines.push("", c.verdict, "");
  if (r.policy)
    lines.push(
      `${"policy".padEnd(width)} ${r.policy.passed ? "passed" : "FAILED"} by ${c.candidate_label} (${r.policy.rules.filter((x) => x.passed).length}/${r.policy.rules.length} rules met)`,
    );
  lines.push(`${"report".padEnd(width)} ${written.join(", ")}`, "");
  return lines.join("\n");
}
