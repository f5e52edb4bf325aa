/**
 * `aegis infer membership`: runs the membership-inference attacks against one model on
 * samples whose membership the assessor knows, training the shadow models they need, and
 * writes the privacy report (findings mapped to OWASP ML04 and ATLAS AML.T0024.000).
 */
import { Command } from "commander";
import {
  attributeMarkdown,
  attributeReport,
  attributeScores,
  classMeans,
  DEFAULT_MEMBERSHIP_ATTACKS,
  type InversionReport,
  inferAttribute,
  inversionHtml,
  inversionMarkdown,
  inversionReport,
  inversionSimilarity,
  type LabelledData,
  LIRA_OFFLINE_TESTS,
  type LiraOfflineTest,
  MEMBERSHIP_ATTACKS,
  type MembershipReport,
  MI_FACE_DEFAULTS,
  membershipFindings,
  membershipHtml,
  membershipJunit,
  membershipMarkdown,
  membershipSarif,
  miFace,
  runMembershipInference,
  sensitiveAttribute,
} from "../../attacks/index.js";
import type { Campaign } from "../../campaigns/index.js";
import { requireLabels } from "../../data/index.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { renderSarif } from "../../report/sarif.js";
import { parseFormats, REPORT_FORMATS, writeReports } from "../../report/write.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import {
  DATA_HELP,
  loadMembershipData,
  loadPart,
  parseAugment,
  parseMembershipAttacks,
  shadowSetup,
  withMembershipData,
  withShadowTraining,
} from "../membership-options.js";
import { parseInteger, parseNumber, runtimeOptions, withData, withFormat, withJson, withOut, withRuntime, withSeed } from "../options.js";
import { closeQueue, openQueue, withQueue } from "../queue.js";

export function inferCommand(): Command {
  const cmd = new Command("infer").description("privacy attacks: what a model gives away about its training data");
  cmd.addCommand(membershipCommand());
  cmd.addCommand(inversionCommand());
  cmd.addCommand(attributeCommand());
  return cmd;
}

function membershipCommand(): Command {
  const cmd = new Command("membership")
    .description(
      "membership inference (loss/confidence thresholds, Shokri, label-only, LiRA, RMIA): can an attacker tell the model's training samples from unseen ones?",
    )
    .requiredOption("--model <file>", "the target ONNX model");
  withMembershipData(cmd)
    .option("--x-key <key>", "array of inputs in .npz files", "x")
    .option("--y-key <key>", "array of labels in .npz files", "y")
    .option("--attacks <list>", `comma-separated: ${MEMBERSHIP_ATTACKS.join(", ")}`, DEFAULT_MEMBERSHIP_ATTACKS.join(","))
    .option("--shadows <n>", "shadow models per plan (offline and online plans each; 0: only the attacks that need none)", parseInteger("--shadows", 0), 8);
  withShadowTraining(cmd)
    .option(
      "--population <n>",
      "reference samples RMIA compares with, LiRA fits its calibration on and thresholds are calibrated on",
      parseInteger("--population", 1),
      2000,
    )
    .option("--no-target-calibration", "LiRA: read the shadow models' confidences as they are, not mapped onto the target's scale fitted on the population")
    .option(
      "--lira-offline-test <test>",
      `offline LiRA: ${LIRA_OFFLINE_TESTS.join(" (the IN shift fitted on the population) or ")} (the paper's)`,
      "likelihood-ratio",
    );
  withQueue(cmd, "the shadow models' training (one job per model)");
  withSeed(cmd, "the shadow-model plans and training");
  withFormat(cmd, REPORT_FORMATS, ["md", "html"]);
  withOut(cmd, "report folder", "aegis-infer");
  withJson(cmd, "the report");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    const attacks = parseMembershipAttacks("--attacks", opts.attacks);
    const formats = parseFormats(opts.format);
    const augment = parseAugment(opts.augment);
    const { members, nonMembers, reference } = loadMembershipData(opts);
    const target = await OnnxClassifier.fromFile(opts.model, runtimeOptions(opts));
    const signal = interruptSignal();
    let campaign: Campaign | null = null;
    try {
      campaign = await openQueue(opts);
      const result = await runMembershipInference({
        target,
        members: members.data,
        nonMembers: nonMembers.data,
        reference: reference.data,
        attacks,
        shadow:
          opts.shadows > 0
            ? { ...shadowSetup(opts, opts.model, target.numClasses, opts.shadows, members.data.labels.length), trainer: campaign?.shadowTrainer }
            : undefined,
        augment,
        population: opts.population,
        targetCalibration: opts.targetCalibration,
        liraOfflineTest: opts.liraOfflineTest as LiraOfflineTest,
        seed: opts.seed,
        signal,
        progress: progressBar,
        log: info,
      });
      const report: MembershipReport = {
        model: opts.model,
        data: { members: members.name, non_members: nonMembers.name, reference: reference.name },
        result,
        findings: membershipFindings(opts.model, result),
      };
      const written = writeReports(opts.out, formats, {
        json: () => `${JSON.stringify(report, null, 2)}\n`,
        md: () => membershipMarkdown(report),
        html: () => membershipHtml(report),
        sarif: () => membershipSarif(report),
        junit: () => membershipJunit(report),
      });
      info(`wrote ${Object.values(written).join(", ")}`);
      if (opts.json) printJson(report);
      else process.stdout.write(summary(report));
    } finally {
      await target.release();
      await closeQueue(campaign);
    }
  });
}

function inversionCommand(): Command {
  const cmd = new Command("inversion")
    .description("model inversion (MI-Face, Fredrikson et al. 2015): reconstruct a representative input of each class by gradient descent on the input")
    .requiredOption("--model <file>", "the target ONNX model (differentiable)")
    .option("--classes <list>", "classes to reconstruct, comma-separated (default: all)")
    .option("--max-iter <n>", "iterations per class at most (the paper's α)", parseInteger("--max-iter", 1), MI_FACE_DEFAULTS.maxIter)
    .option("--window <n>", "stop a class whose cost has not improved in this many iterations (β)", parseInteger("--window", 1), MI_FACE_DEFAULTS.window)
    .option("--confidence <p>", "stop a class once the model gives it this probability (γ)", parseNumber("--confidence"), MI_FACE_DEFAULTS.threshold)
    .option("--lr <rate>", "step size (λ)", parseNumber("--lr"), MI_FACE_DEFAULTS.learningRate)
    .option("--blur <pixels>", "Gaussian blur after each step, so strokes rather than noise build up (0: none)", parseNumber("--blur"), MI_FACE_DEFAULTS.blur);
  withData(cmd, "real labelled data for the class means the reconstructions are compared with", "mnist", { split: "train" });
  withFormat(cmd, ["json", "md", "html", "sarif"], ["md", "html"]);
  withOut(cmd, "report folder", "aegis-infer");
  withJson(cmd, "the report");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    const formats = parseFormats(opts.format, ["json", "md", "html", "sarif"]);
    const data = loadData(opts.data, opts);
    const labels = requireLabels(data, "the class means MI-Face's reconstructions are compared with");
    const model = await OnnxClassifier.fromFile(opts.model, runtimeOptions(opts));
    try {
      const classes = opts.classes === undefined ? Array.from({ length: model.numClasses }, (_, c) => c) : parseClasses(opts.classes);
      const options = { maxIter: opts.maxIter, window: opts.window, threshold: opts.confidence, learningRate: opts.lr, blur: opts.blur };
      info(`inverting ${classes.length} classes of ${opts.model} (at most ${options.maxIter} iterations each)`);
      const bar = progressBar("MI-Face", options.maxIter);
      const signal = interruptSignal();
      let inversion: Awaited<ReturnType<typeof miFace>>;
      try {
        inversion = await miFace(model, classes, { ...options, signal, onProgress: (done) => bar.update(done) });
      } finally {
        bar.stop();
      }
      const means = classMeans(data.x, labels, model.numClasses);
      const report: InversionReport = inversionReport({
        model: opts.model,
        data: data.name,
        options,
        classes,
        classNames: data.classNames,
        inversion,
        similarity: inversionSimilarity(inversion, classes, means),
        means,
        clipRange: model.clipRange,
      });
      const written = writeReports(opts.out, formats, {
        json: () => `${JSON.stringify(report, null, 2)}\n`,
        md: () => inversionMarkdown(report),
        html: () => inversionHtml(report),
        sarif: () => renderSarif(report.findings, { name: "aegis-infer", fullName: "Aegis model inversion", version: AEGIS_VERSION }),
      });
      info(`wrote ${Object.values(written).join(", ")}`);
      if (opts.json) printJson(report);
      else
        process.stdout.write(
          `${report.classes.map((c) => `${c.name.padEnd(8)} confidence ${(100 * c.confidence).toFixed(1).padStart(5)}%  r=${c.own_correlation.toFixed(2)}  rank ${c.rank}${c.recognisable ? "  recognisable" : ""}`).join("\n")}\n${report.recognisable} of ${report.classes.length} classes recognisable\n`,
        );
      if (signal.aborted) throw new AegisError("INTERRUPTED", "interrupted: the reports show the best reconstruction each class had reached");
    } finally {
      await model.release();
    }
  });
}

function attributeCommand(): Command {
  const cmd = new Command("attribute")
    .description(
      "attribute inference (Fredrikson et al. 2014) on a tabular model: recover a sensitive column from the others and the label, against a baseline without the model",
    )
    .requiredOption("--model <file>", "the target ONNX model (tabular: [samples, columns])")
    .requiredOption("--records <spec>", `records to attack, e.g. some of its training records: ${DATA_HELP}`)
    .requiredOption("--auxiliary <spec>", `the attacker's own records with the column known (prior and baseline): ${DATA_HELP}`)
    .requiredOption("--column <list>", "the sensitive column's index, or the comma-separated indices of its one-hot group")
    .option("--unseen <spec>", `records the model never saw, to show what it memorised: ${DATA_HELP}`)
    .option("--steps <n>", "gradient steps of the white-box attack", parseInteger("--steps", 1), 100)
    .option("--x-key <key>", "array of inputs in .npz files", "x")
    .option("--y-key <key>", "array of labels in .npz files", "y");
  withSeed(cmd, "the baseline's classifier");
  withFormat(cmd, ["json", "md", "sarif"], ["md"]);
  withOut(cmd, "report folder", "aegis-infer");
  withJson(cmd, "the report");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    const formats = parseFormats(opts.format, ["json", "md", "sarif"]);
    const columns = String(opts.column)
      .split(",")
      .map((c) => Number(c.trim()));
    if (columns.some((c) => !Number.isInteger(c) || c < 0))
      throw new AegisError("BAD_OPTION", `--column takes a column index or a comma-separated one-hot group, not "${opts.column}"`);
    const records = loadPart(opts.records, "--records", opts);
    const auxiliary = loadPart(opts.auxiliary, "--auxiliary", opts);
    const unseen = opts.unseen ? loadPart(opts.unseen, "--unseen", opts) : undefined;
    const attribute = sensitiveAttribute(columns, auxiliary.data);
    const model = await OnnxClassifier.fromFile(opts.model, runtimeOptions(opts));
    try {
      const options = { attribute, auxiliary: auxiliary.data, steps: opts.steps, seed: opts.seed };
      const score = async (part: { data: LabelledData }) => attributeScores(attribute, part.data, await inferAttribute(model, part.data, options));
      const report = attributeReport(opts.model, attribute, await score(records), unseen ? await score(unseen) : null);
      const written = writeReports(opts.out, formats, {
        json: () => `${JSON.stringify(report, null, 2)}\n`,
        md: () => attributeMarkdown(report),
        sarif: () => renderSarif(report.findings, { name: "aegis-infer", fullName: "Aegis attribute inference", version: AEGIS_VERSION }),
      });
      info(`wrote ${Object.values(written).join(", ")}`);
      if (opts.json) printJson(report);
      else process.stdout.write(attributeMarkdown(report));
    } finally {
      await model.release();
    }
  });
}

function parseClasses(value: string): number[] {
  const classes = value.split(",").map((s) => Number(s.trim()));
  if (classes.length === 0 || classes.some((c) => !Number.isInteger(c) || c < 0))
    throw new AegisError("BAD_OPTION", `--classes takes a comma-separated list of class indices, not "${value}"`);
  return [...new Set(classes)];
}

function summary(r: MembershipReport): string {
  const res = r.result;
  const pct = (v: number) => `${(100 * v).toFixed(1)}%`;
  const lines = [
    `members ${res.members} (accuracy ${pct(res.target.member_accuracy)}), non-members ${res.non_members} (accuracy ${pct(res.target.non_member_accuracy)})`,
    `${"attack".padEnd(32)} ${"AUC".padStart(6)} ${"TPR@0.1%".padStart(9)} ${"TPR@1%".padStart(8)}`,
    ...res.attacks.map(
      (a) => `${a.title.padEnd(32)} ${a.auc.toFixed(3).padStart(6)} ${pct(a.tpr_at_low_fpr[0].tpr).padStart(9)} ${pct(a.tpr_at_low_fpr[1].tpr).padStart(8)}`,
    ),
    r.findings.length > 0 ? `${r.findings[0].severity}: ${r.findings[0].title}` : "no attack did measurably better than chance",
  ];
  return `${lines.join("\n")}\n`;
}
