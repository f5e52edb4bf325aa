/** `aegis inspect-model`: parses the flags, runs Neural Cleanse (defenses/inspection/inspect-model.ts) and renders its report. */
import { Command } from "commander";
import {
  inspectModel,
  MODEL_INSPECTIONS,
  type ModelInspectionName,
  NEURAL_CLEANSE_DEFAULTS,
  renderModelInspectionHtml,
  renderModelInspectionMarkdown,
  renderModelInspectionSarif,
} from "../../defenses/index.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { parseFormats, writeReports } from "../../report/write.js";
import { sliceRows } from "../../tensor.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import { parseInteger, parseNumber, runtimeOptions, withData, withJson, withOut, withRuntime, withSamples, withSeed } from "../options.js";

const FORMATS = ["json", "md", "html", "sarif"] as const;

export function inspectModelCommand(): Command {
  const cmd = new Command("inspect-model")
    .description("look for a backdoor in a trained model with a small clean set (Neural Cleanse: reverse a trigger per class, flag the outliers)")
    .requiredOption("--model <file>", "ONNX model to inspect");
  withData(cmd, "clean inputs (labels not needed)");
  withSamples(cmd, "clean inputs to use (the first n)", 500);
  cmd
    .option("--defence <name>", MODEL_INSPECTIONS.join(" | "), "neural-cleanse")
    .option("--classes <list>", "classes to reverse, e.g. 0,3,7 (default: all)")
    .option(
      "--max-epochs <n>",
      `optimisation epochs per class (default ${NEURAL_CLEANSE_DEFAULTS.maxEpochs}; most stop early)`,
      parseInteger("--max-epochs", 1),
    )
    .option("--batch-size <n>", `inputs per step (default ${NEURAL_CLEANSE_DEFAULTS.batchSize})`, parseInteger("--batch-size", 1))
    .option(
      "--anomaly-threshold <t>",
      "flag classes whose anomaly index exceeds t (default: the cut-off a clean model crosses with 5% chance, 3.84 for 10 classes; Wang et al.: 2)",
      parseNumber("--anomaly-threshold"),
    )
    .option(
      "--min-size-ratio <r>",
      `and only when its trigger is also r times smaller than the median class's (default ${NEURAL_CLEANSE_DEFAULTS.minSizeRatio}; 1 turns it off)`,
      parseNumber("--min-size-ratio"),
    )
    .option("--format <list>", `reports to write into --out: ${FORMATS.join(",")} (html shows the reversed triggers)`);
  withSeed(cmd, "the triggers' random start");
  withOut(cmd, "report folder for --format", "aegis-inspect-model");
  withJson(cmd, "the report, with every reversed mask and pattern");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    const formats = opts.format === undefined ? [] : parseFormats(opts.format, FORMATS);
    const classes = opts.classes === undefined ? undefined : String(opts.classes).split(",").map(parseInteger("--classes", 0));
    // Labels are not needed: an .npz without "y" is fine unless --y-key names one.
    const data = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey === "y" ? undefined : opts.yKey, split: opts.split });
    const x = sliceRows(data.x, 0, Math.min(opts.samples, data.x.shape[0]));
    const model = await OnnxClassifier.fromFile(opts.model, runtimeOptions(opts));
    let report: Awaited<ReturnType<typeof inspectModel>>;
    try {
      report = await inspectModel(model, { x, name: data.name }, opts.model, {
        defence: opts.defence as ModelInspectionName,
        classes,
        maxEpochs: opts.maxEpochs,
        batchSize: opts.batchSize,
        anomalyThreshold: opts.anomalyThreshold,
        minSizeRatio: opts.minSizeRatio,
        seed: opts.seed,
        progress: progressBar,
        signal: interruptSignal(),
      });
    } finally {
      await model.release();
    }
    if (formats.length > 0) {
      const written = writeReports(opts.out, formats, {
        json: () => `${JSON.stringify(report, null, 2)}\n`,
        md: () => renderModelInspectionMarkdown(report),
        html: () => renderModelInspectionHtml(report),
        sarif: () => renderModelInspectionSarif(report),
      });
      info(`wrote ${Object.values(written).join(", ")}`);
    }
    if (opts.json) return printJson(report);
    const lines = [
      report.flagged.length > 0
        ? `${report.defence}: class ${report.flagged.join(", ")} of ${opts.model} looks backdoored`
        : `${report.defence}: no class of ${opts.model} looks backdoored`,
    ];
    for (const c of report.classes)
      lines.push(
        `  class ${c.class}: ‖m‖₁ ${c.l1 === null ? "none found" : c.l1.toFixed(1)}, anomaly index ${c.anomaly_index.toFixed(2)}${c.flagged ? "  ← backdoored" : ""}`,
      );
    process.stdout.write(`${lines.join("\n")}\n`);
  });
}
