/** `aegis privacy audit`: the one-run empirical audit of DP-SGD (Steinke, Nasr & Jagielski 2023). */
import { basename } from "node:path";
import { Command } from "commander";
import { requireLabels } from "../../data/index.js";
import { ARCHITECTURES, type Architecture, buildArchitecture, OnnxClassifier, reinitialise, sgd } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { loadModel } from "../../onnx/io.js";
import {
  auditDpSgd,
  auditFindings,
  CANARY_KINDS,
  type CanaryAuditResult,
  type CanaryKind,
  describePlan,
  makeCanaries,
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
    .option("--lr <rate>", "SGD learning rate", parseNumber("--lr"), 1);
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
    const guessesPerSide = opts.guesses?.split(",").map((k) => parseInteger("--guesses", 1)(k.trim()));
    const dataset = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: "train" });
    const labels = requireLabels(dataset, "the audit's training");
    const numClasses = Math.max(...labels) + 1;
    const available = dataset.x.shape[0] - opts.samples;
    if (available < opts.canaries)
      throw new AegisError(
        "BAD_OPTION",
        `${dataset.name} has ${dataset.x.shape[0]} rows: --samples ${opts.samples} leaves ${Math.max(0, available)} for --canaries ${opts.canaries}; lower one of them`,
      );
    const slice = (start: number, end: number) => ({ x: sliceRows(dataset.x, start, end), labels: labels.slice(start, end) });
    const random = opts.seed === undefined ? SecureRandom.fromEntropy() : SecureRandom.fromSeed(`canary-inputs:${opts.seed}`);
    const canaries = makeCanaries(slice(opts.samples, opts.samples + opts.canaries), opts.canaries, numClasses, opts.canaryKind as CanaryKind, random);
    const model = opts.like
      ? reinitialise(loadModel(opts.like), opts.seed ?? 0).model
      : buildArchitecture(opts.arch as Architecture, { inputShape: dataset.x.shape.slice(1), numClasses, seed: opts.seed ?? 0 });
    const classifier = await OnnxClassifier.create(model, { ...runtimeOptions(opts), trainable: true, batchSize: opts.batchSize });
    if (numClasses > classifier.numClasses) {
      await classifier.release();
      throw new AegisError(
        "BAD_DATA",
        `the labels go up to ${numClasses - 1} but ${opts.like} has ${classifier.numClasses} outputs; give data with labels 0..${classifier.numClasses - 1}`,
      );
    }
    const n = opts.samples;
    const name = opts.like ? `the architecture of ${basename(opts.like)}` : opts.arch;
    info(
      `auditing DP-SGD on ${name}: ${n} training rows of ${dataset.name} and ${opts.canaries} ${opts.canaryKind} canaries, each included with probability ½`,
    );
    let result: CanaryAuditResult;
    try {
      result = await auditDpSgd({
        classifier,
        data: slice(0, n),
        canaries,
        settings: {
          noiseMultiplier: opts.noiseMultiplier,
          targetEpsilon: opts.targetEpsilon,
          maxGradNorm: opts.maxGradNorm,
          delta: opts.delta,
          accountant: opts.accountant,
          batchSize: opts.batchSize,
          epochs: opts.epochs,
        },
        optimizer: sgd({ lr: opts.lr }),
        guessesPerSide,
        confidence: opts.confidence,
        seed: opts.seed,
        signal: interruptSignal(),
        onPlan: (plan) => info(describePlan(plan, Math.round(opts.batchSize / plan.samplingRate), opts.targetEpsilon)),
        onEpoch: (s) =>
          info(`epoch ${s.epoch}/${opts.epochs}: loss ${s.loss.toFixed(4)} accuracy ${(s.accuracy * 100).toFixed(2)}% · ε ${s.epsilon.toFixed(3)} spent`),
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
