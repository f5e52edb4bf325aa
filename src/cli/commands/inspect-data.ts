import { Command } from "commander";
import { loadManifest, poisonedFlags } from "../../attacks/index.js";
import { requireLabels, saveNpz } from "../../data/index.js";
import {
  DATA_INSPECTIONS,
  type DataInspectionName,
  inspectData,
  renderInspectionHtml,
  renderInspectionMarkdown,
  renderInspectionSarif,
} from "../../defenses/index.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { parseFormats, writeReports } from "../../report/write.js";
import { gatherRows, type Tensor } from "../../tensor.js";
import { info, loadData, printJson } from "../common.js";
import { parseNumber, runtimeOptions, withData, withJson, withOut, withRuntime, withSeed } from "../options.js";

const FORMATS = ["json", "md", "html", "sarif"] as const;

export function inspectDataCommand(): Command {
  const cmd = new Command("inspect-data")
    .description("look for poisoned rows in a training set (activation clustering, spectral signatures, influence, RONI)")
    .option("--model <file>", "ONNX model trained on --data (every defence but roni)");
  withData(cmd, "the suspect training data, with labels", undefined, { split: "train" });
  cmd
    .option("--defence <name>", DATA_INSPECTIONS.join(" | "), "activation-clustering")
    .option("--analysis <rule>", "activation clustering: superimposition (default) or size (Chen et al.'s relative-size rule)")
    .option(
      "--epsilon <e>",
      "spectral signatures: upper bound on the poisoned share of a class (Tran et al.: 0.1); influence, roni: share of the rows flagged (default 0.05)",
      parseNumber("--epsilon"),
    )
    .option("--trusted <file>", "roni: a small labelled set known to be clean (.npz with x and y, or CSV), the quiz set instead of rows drawn from --data")
    .option("--manifest <file>", "the poison manifest (aegis poison --manifest): adds precision, recall, false-positive rate and ROC AUC")
    .option("--format <list>", `reports to write into --out: ${FORMATS.join(",")}`)
    .option("--clean-out <file>", "write the data without the flagged rows (.npz), to retrain on with aegis train --data");
  withSeed(cmd, "k-means and the superimposition draws");
  withOut(cmd, "report folder for --format", "aegis-inspect-data");
  withJson(cmd, "the report, every flagged row included");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    if (opts.analysis !== undefined && opts.analysis !== "superimposition" && opts.analysis !== "size")
      throw new AegisError("BAD_OPTION", `--analysis must be superimposition or size, not "${opts.analysis}"`);
    const formats = opts.format === undefined ? [] : parseFormats(opts.format, FORMATS);
    const data = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: opts.split });
    const labels = requireLabels(data, "data inspection");
    const poisoned = opts.manifest ? poisonedFlags(loadManifest(opts.manifest), data.x.shape[0]) : undefined;
    if (opts.trusted !== undefined && opts.defence !== "roni") throw new AegisError("BAD_OPTION", "--trusted applies to --defence roni only");
    const trusted = opts.trusted === undefined ? undefined : loadData(opts.trusted, {});
    const model = opts.model === undefined ? undefined : await OnnxClassifier.fromFile(opts.model, runtimeOptions(opts));
    let report: Awaited<ReturnType<typeof inspectData>>;
    try {
      report = await inspectData(model, { x: data.x, labels, name: data.name }, opts.model ?? "no model", {
        defence: opts.defence as DataInspectionName,
        analysis: opts.analysis,
        epsilon: opts.epsilon,
        trusted: trusted && { x: trusted.x, labels: requireLabels(trusted, "RONI's trusted quiz set") },
        poisoned,
        seed: opts.seed,
      });
    } finally {
      await model?.release();
    }
    const flagged = new Set(report.suspected.map((s) => s.row));
    if (opts.cleanOut) {
      const kept = Array.from({ length: report.rows }, (_, i) => i).filter((i) => !flagged.has(i));
      saveNpz(opts.cleanOut, { x: gatherRows(data.x, kept), y: gatherRows(data.y as Tensor<"int64">, kept) });
      info(`wrote ${opts.cleanOut}: ${kept.length} of ${report.rows} rows, the ${report.flagged} flagged ones removed`);
    }
    if (formats.length > 0) {
      const written = writeReports(opts.out, formats, {
        json: () => `${JSON.stringify(report, null, 2)}\n`,
        md: () => renderInspectionMarkdown(report),
        html: () => renderInspectionHtml(report),
        sarif: () => renderInspectionSarif(report),
      });
      info(`wrote ${Object.values(written).join(", ")}`);
    }
    if (opts.json) return printJson(report);
    const lines = [`${report.defence}: ${report.flagged} of ${report.rows} rows of ${report.data} flagged`];
    for (const c of report.classes.filter((v) => v.suspicious)) lines.push(`  class ${c.class} looks poisoned: ${c.flagged} of ${c.rows} rows flagged`);
    const t = report.truth;
    if (t)
      lines.push(
        `against the manifest: recall ${(t.recall * 100).toFixed(1)}% (${t.true_positives}/${t.poisoned}), precision ${(t.precision * 100).toFixed(1)}%, false positives ${(t.false_positive_rate * 100).toFixed(1)}%, ROC AUC ${t.roc_auc.toFixed(3)}, recall at 5% false positives ${(t.recall_at_5_fpr * 100).toFixed(1)}%`,
      );
    process.stdout.write(`${lines.join("\n")}\n`);
  });
}
