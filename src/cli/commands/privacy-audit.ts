/**
 * `aegis privacy audit`: the one-run empirical audit of DP-SGD (Steinke, Nasr & Jagielski 2023),
 * or with --membership, membership inference against DP-SGD and a non-private twin.
 */
import { basename } from "node:path";
import { Command } from "commander";
import { requireLabels } from "../../data/index.js";
import { ARCHITECTURES, type Architecture, buildArchitecture, OnnxClassifier, reinitialise, sgd } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { encodeModel, loadModel } from "../../onnx/index.js";
import {
  auditDpSgd,
  auditFindings,
  auditMembership,
  CANARY_KINDS,
  type CanaryAuditResult,
  type CanaryKind,
  describePlan,
  type MembershipAuditResult,
  makeCanaries,
  membershipAuditFinding,
  SecureRandom,
} from "../../privacy/index.js";
import { severitySummary } from "../../report/finding.js";
import { esc, findingsSection, page } from "../../report/html.js";
import { findingsMarkdown } from "../../report/markdown.js";
import { renderSarif } from "../../report/sarif.js";
import { parseFormats, type ReportFormat, writeReports } from "../../report/write.js";
import { sliceRows } from "../../tensor.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, interruptSignal, loadData, printJson } from "../common.js";
import { parseInteger, parseNumber, runtimeOptions, withBatchSize, withData, withDpSettings, withJson, withOut, withRuntime, withSeed } from "../options.js";

/** Exit code when the audit measures more leakage than the accountant allows (README, "Exit codes"). */
export const AUDIT_VIOLATION_EXIT = 11;

const AUDIT_FORMATS: readonly ReportFormat[] = ["json", "md", "html", "sarif"];

interface AuditOptions {
  data: string;
  xKey?: string;
  yKey?: string;
  samples: number;
  arch: string;
  like?: string;
  canaries: number;
  canaryKind: string;
  guesses?: string;
  confidence: number;
  noiseMultiplier?: number;
  targetEpsilon?: number;
  maxGradNorm: number;
  delta: number;
  accountant: string;
  epochs: number;
  lr: number;
  batchSize: number;
  seed?: number;
  threads: number;
  device: string;
  out: string;
  format?: string;
  json?: boolean;
  membership?: boolean;
  shadows: number;
  twinLr?: number;
}

export function auditCommand(): Command {
  const cmd = new Command("audit")
    .description(
      "measure a lower bound on DP-SGD's ε with one training run (Steinke, Nasr & Jagielski 2023): train with a random half of m canaries, guess which were in, and flag the DP implementation as broken if the bound exceeds the accountant's ε",
    )
    .option("--arch <arch>", `architecture to train: ${ARCHITECTURES.join(" | ")}`, "mlp")
    .option("--like <model>", "audit DP-SGD on this ONNX model's architecture instead, with weights re-initialised");
  withData(cmd, "training data; canaries are made from the rows after --samples", "mnist", { split: false });
  cmd
    .option("--samples <n>", "training rows (the canaries come from the rows after them)", parseInteger("--samples", 1), 1000)
    .option("--canaries <m>", "canaries, each trained on with probability ½", parseInteger("--canaries", 2), 1000)
    .option("--canary-kind <kind>", `${CANARY_KINDS.join(" | ")}: sparse random inputs with random labels, or real inputs with a wrong label`, "noise")
    .option(
      "--guesses <list>",
      "guesses per side k, comma-separated: the k most and k least likely members are guessed (default m/20, m/10, m/4, m/2; Bonferroni over the list)",
    )
    .option("--confidence <c>", "confidence of the lower bound", parseNumber("--confidence"), 0.95)
    .option("--epochs <n>", "epochs", parseInteger("--epochs", 1), 15)
    .option("--lr <rate>", "SGD learning rate", parseNumber("--lr"), 1)
    .option(
      "--membership",
      "instead of canaries: train DP-SGD and a non-private twin on the first --samples rows, attack both with the loss attack and offline LiRA (non-members: the next --samples rows; shadow data: the rows after), and check TPR ≤ e^ε·FPR + δ",
    )
    .option("--twin-lr <rate>", "--membership: the non-private twin's (and shadow models') SGD learning rate (default: --lr)", parseNumber("--twin-lr"))
    .option("--shadows <n>", "--membership: shadow models for LiRA, trained like the twin on the reference rows", parseInteger("--shadows", 1), 4);
  withDpSettings(cmd);
  withBatchSize(cmd, 64, "expected Poisson batch size");
  withSeed(cmd, "which canaries are included and the initial weights (default: the operating system's entropy for the inclusion)", null);
  withRuntime(cmd);
  withOut(cmd, "report folder for --format", "aegis-privacy-audit");
  cmd.option("--format <list>", `reports to write, comma-separated: ${AUDIT_FORMATS.join(", ")} (none unless given)`);
  withJson(cmd, "the audit and its finding");
  return cmd.action(async (opts: AuditOptions) => {
    const formats = opts.format === undefined ? [] : parseFormats(opts.format, AUDIT_FORMATS);
    if (opts.like && cmd.getOptionValueSource("arch") === "cli") throw new AegisError("BAD_OPTION", "give --arch or --like, not both");
    if (!opts.like && !ARCHITECTURES.includes(opts.arch as Architecture))
      throw new AegisError("BAD_OPTION", `--arch must be one of ${ARCHITECTURES.join(", ")}, not "${opts.arch}"`);
    if (opts.accountant !== "rdp" && opts.accountant !== "prv") throw new AegisError("BAD_OPTION", `--accountant must be rdp or prv, not "${opts.accountant}"`);
    if (opts.membership) {
      for (const flag of ["canaries", "canaryKind", "guesses"])
        if (cmd.getOptionValueSource(flag) === "cli")
          throw new AegisError("BAD_OPTION", "--canaries, --canary-kind and --guesses are for the canary audit; drop them with --membership");
      return membershipAudit(opts, formats);
    }
    if (cmd.getOptionValueSource("shadows") === "cli" || opts.twinLr !== undefined)
      throw new AegisError("BAD_OPTION", "--shadows and --twin-lr configure the membership audit; add --membership");
    const guessesPerSide = opts.guesses?.split(",").map((k) => parseInteger("--guesses", 1)(k.trim()));
    const { dataset, numClasses, slice } = loadTraining(opts);
    const available = dataset.x.shape[0] - opts.samples;
    if (available < opts.canaries)
      throw new AegisError(
        "BAD_OPTION",
        `${dataset.name} has ${dataset.x.shape[0]} rows: --samples ${opts.samples} leaves ${Math.max(0, available)} for --canaries ${opts.canaries}; lower one of them`,
      );
    const random = opts.seed === undefined ? SecureRandom.fromEntropy() : SecureRandom.fromSeed(`canary-inputs:${opts.seed}`);
    const canaries = makeCanaries(slice(opts.samples, opts.samples + opts.canaries), opts.canaries, numClasses, opts.canaryKind as CanaryKind, random);
    const classifier = await freshClassifier(opts, dataset.x.shape.slice(1), numClasses);
    const n = opts.samples;
    const name = architectureName(opts);
    info(
      `auditing DP-SGD on ${name}: ${n} training rows of ${dataset.name} and ${opts.canaries} ${opts.canaryKind} canaries, each included with probability ½`,
    );
    let result: CanaryAuditResult;
    try {
      result = await auditDpSgd({
        classifier,
        data: slice(0, n),
        canaries,
        settings: dpSettings(opts),
        optimizer: sgd({ lr: opts.lr }),
        guessesPerSide,
        confidence: opts.confidence,
        seed: opts.seed,
        signal: interruptSignal(),
        onPlan: (plan) => info(describePlan(plan, Math.round(opts.batchSize / plan.samplingRate), opts.targetEpsilon)),
        onEpoch: describeEpoch(opts),
      });
    } finally {
      await classifier.release();
    }
    const finding = auditFindings(result, { file: dataset.name });
    const report = {
      dataset: dataset.name,
      arch: opts.like ? undefined : opts.arch,
      like: opts.like,
      canaryKind: opts.canaryKind,
      ...withoutHistory(result),
      finding,
    };
    const title = `Aegis DP audit: ${name} on ${dataset.name}`;
    if (formats.length > 0) {
      const written = writeReports(
        opts.out,
        formats,
        {
          json: () => `${JSON.stringify(report, null, 2)}\n`,
          md: () => [`# ${title}`, "", auditText(result), "", ...findingsMarkdown([finding], "No findings."), ""].join("\n"),
          html: () => page(title, [`<h1>${esc(title)}</h1>`, `<pre>${esc(auditText(result))}</pre>`, findingsSection([finding], "No findings.")]),
          sarif: () => renderSarif([finding], { name: "aegis-privacy-audit", fullName: "Aegis DP audit", version: AEGIS_VERSION }),
        },
        { base: "privacy-audit" },
      );
      info(`wrote ${Object.values(written).join(", ")}`);
    }
    if (opts.json) printJson(report);
    else process.stdout.write(`${auditText(result)}\nfindings: ${severitySummary([finding])}\n  [${finding.severity}] ${finding.rule}: ${finding.title}\n`);
    if (result.violated) {
      process.stderr.write(
        `\n!!! THE DP IMPLEMENTATION IS BROKEN: the audit measured ε ≥ ${result.epsilonLower.toFixed(3)}, above the ε = ${result.claimedEpsilon.toFixed(3)} the accountant claims. Models trained this way do not have the guarantee they record. !!!\n\n`,
      );
      process.exitCode = AUDIT_VIOLATION_EXIT;
    }
  });
}

/** The training data, its class count, and rows [start, end) of it. */
function loadTraining(opts: AuditOptions) {
  const dataset = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: "train" });
  const labels = requireLabels(dataset, "the audit's training");
  const slice = (start: number, end: number) => ({ x: sliceRows(dataset.x, start, end), labels: labels.slice(start, end) });
  return { dataset, numClasses: Math.max(...labels) + 1, slice };
}

/** A freshly initialised trainable model of --arch, or of --like's architecture. */
async function freshClassifier(opts: AuditOptions, inputShape: number[], numClasses: number): Promise<OnnxClassifier> {
  const model = opts.like
    ? reinitialise(loadModel(opts.like), opts.seed ?? 0).model
    : buildArchitecture(opts.arch as Architecture, { inputShape, numClasses, seed: opts.seed ?? 0 });
  const classifier = await OnnxClassifier.create(model, { ...runtimeOptions(opts), trainable: true, batchSize: opts.batchSize });
  if (numClasses > classifier.numClasses) {
    await classifier.release();
    throw new AegisError(
      "BAD_DATA",
      `the labels go up to ${numClasses - 1} but ${opts.like} has ${classifier.numClasses} outputs; give data with labels 0..${classifier.numClasses - 1}`,
    );
  }
  return classifier;
}

function architectureName(opts: AuditOptions): string {
  return opts.like ? `the architecture of ${basename(opts.like)}` : opts.arch;
}

function dpSettings(opts: AuditOptions) {
  const { noiseMultiplier, targetEpsilon, maxGradNorm, delta, batchSize, epochs } = opts;
  return { noiseMultiplier, targetEpsilon, maxGradNorm, delta, accountant: opts.accountant as "rdp" | "prv", batchSize, epochs };
}

function describeEpoch(opts: AuditOptions) {
  return (s: { epoch: number; loss: number; accuracy: number; epsilon: number }) =>
    info(`epoch ${s.epoch}/${opts.epochs}: loss ${s.loss.toFixed(4)} accuracy ${(s.accuracy * 100).toFixed(2)}% · ε ${s.epsilon.toFixed(3)} spent`);
}

/** --membership: DP-SGD and its non-private twin on the first --samples rows, attacked with the next --samples rows as non-members. */
async function membershipAudit(opts: AuditOptions, formats: ReportFormat[]): Promise<void> {
  const { dataset, numClasses, slice } = loadTraining(opts);
  const n = opts.samples;
  const rows = dataset.x.shape[0];
  if (rows < 3 * n)
    throw new AegisError(
      "BAD_OPTION",
      `${dataset.name} has ${rows} rows: --membership needs --samples ${n} members, as many non-members and at least as many shadow-training rows (${3 * n}); lower --samples`,
    );
  const classifier = await freshClassifier(opts, dataset.x.shape.slice(1), numClasses);
  const name = architectureName(opts);
  info(
    `membership audit of DP-SGD on ${name}: ${n} members, ${n} non-members and ${rows - 2 * n} reference rows of ${dataset.name}, ${opts.shadows} shadow models`,
  );
  let result: MembershipAuditResult;
  try {
    result = await auditMembership({
      classifier,
      shadow: {
        architecture: opts.like ? { like: encodeModel(loadModel(opts.like)) } : { arch: opts.arch as Architecture },
        numClasses: classifier.numClasses,
        threads: opts.threads,
      },
      members: slice(0, n),
      nonMembers: slice(n, 2 * n),
      reference: slice(2 * n, rows),
      settings: dpSettings(opts),
      lr: opts.lr,
      twinLr: opts.twinLr,
      shadows: opts.shadows,
      confidence: opts.confidence,
      seed: opts.seed,
      signal: interruptSignal(),
      onPlan: (plan) => info(describePlan(plan, n, opts.targetEpsilon)),
      onEpoch: describeEpoch(opts),
      log: info,
    });
  } finally {
    await classifier.release();
  }
  const finding = membershipAuditFinding(result, { file: dataset.name });
  const report = { dataset: dataset.name, arch: opts.like ? undefined : opts.arch, like: opts.like, ...result, finding };
  const title = `Aegis DP membership audit: ${name} on ${dataset.name}`;
  const text = membershipText(result);
  if (formats.length > 0) {
    const written = writeReports(
      opts.out,
      formats,
      {
        json: () => `${JSON.stringify(report, null, 2)}\n`,
        md: () => [`# ${title}`, "", "```", text, "```", "", ...findingsMarkdown([finding], "No findings."), ""].join("\n"),
        html: () => page(title, [`<h1>${esc(title)}</h1>`, `<pre>${esc(text)}</pre>`, findingsSection([finding], "No findings.")]),
        sarif: () => renderSarif([finding], { name: "aegis-privacy-audit", fullName: "Aegis DP audit", version: AEGIS_VERSION }),
      },
      { base: "privacy-membership-audit" },
    );
    info(`wrote ${Object.values(written).join(", ")}`);
  }
  if (opts.json) printJson(report);
  else process.stdout.write(`${text}\nfindings: ${severitySummary([finding])}\n  [${finding.severity}] ${finding.rule}: ${finding.title}\n`);
  if (result.violated) {
    process.stderr.write(
      `\n!!! THE DP IMPLEMENTATION IS BROKEN: membership inference against the DP model beats TPR ≤ e^ε·FPR + δ for the accountant's ε = ${result.claimedEpsilon.toFixed(3)}. Models trained this way do not have the guarantee they record. !!!\n\n`,
    );
    process.exitCode = AUDIT_VIOLATION_EXIT;
  }
}

const percent = (v: number) => `${(100 * v).toFixed(1)}%`.padStart(6);

function membershipText(r: MembershipAuditResult): string {
  const lines = [
    `membership inference: ${r.members} members, ${r.nonMembers} non-members, ${r.shadows} shadow models · accountant's ε = ${r.claimedEpsilon.toFixed(3)} at δ = ${r.delta}`,
    `  bound of (ε, δ)-DP: TPR ≤ e^ε·FPR + δ = ${percent(Math.exp(r.claimedEpsilon) * 0.001 + r.delta)} at 0.1% FPR, ${percent(Math.exp(r.claimedEpsilon) * 0.01 + r.delta)} at 1% FPR`,
  ];
  for (const m of r.models) {
    lines.push(
      `${m.model === "dp-sgd" ? `DP-SGD (ε ${m.epsilon?.toFixed(3)})` : "non-private twin"}: train accuracy ${percent(m.train_accuracy)}, test ${percent(m.test_accuracy)}`,
    );
    for (const a of m.attacks)
      lines.push(
        `  ${a.title.padEnd(16)} AUC ${a.auc.toFixed(3)}  TPR@0.1% FPR ${percent(a.tpr_at_low_fpr[0].tpr)}  TPR@1% FPR ${percent(a.tpr_at_low_fpr[1].tpr)}`,
      );
  }
  lines.push(
    `bound checks on the DP model, ${(100 * r.confidence).toFixed(0)}% confidence over all ${r.checks.length}: ${r.violated ? "VIOLATED" : "all within the bound"}`,
  );
  for (const c of r.checks)
    lines.push(
      `  ${c.attack.padEnd(12)} FPR ≤ ${`${100 * c.at}%`.padEnd(5)} TPR ${percent(c.tpr)} at FPR ${percent(c.fpr)} · bound ${percent(c.bound)} · p ${c.pValue.toPrecision(2).padStart(7)}${c.violated ? "  VIOLATED" : ""}`,
    );
  return lines.join("\n");
}

function withoutHistory(result: CanaryAuditResult): Omit<CanaryAuditResult, "history"> {
  const { history: _history, ...rest } = result;
  return rest;
}

function auditText(r: CanaryAuditResult): string {
  const rows = r.outcomes.map((o) => `  k ${String(o.perSide).padStart(5)}: ${o.correct} of ${2 * o.perSide} right → ε ≥ ${o.epsilonLower.toFixed(3)}`);
  return [
    `measured ε ≥ ${r.epsilonLower.toFixed(3)} at ${(r.confidence * 100).toFixed(0)}% confidence · accountant's ε = ${r.claimedEpsilon.toFixed(3)} at δ = ${r.delta}`,
    `  ${r.canaries} canaries, ${r.included} trained on; guesses per side (Bonferroni over ${r.outcomes.length}):`,
    ...rows,
  ].join("\n");
}
