import { readFileSync } from "node:fs";
import { Command } from "commander";
import type { Dataset } from "../../data/index.js";
import { AegisError } from "../../errors.js";
import {
  checkDrift,
  DEFAULT_ALPHA,
  type DriftReport,
  fitDrift,
  loadDriftDetector,
  renderDriftHtml,
  renderDriftMarkdown,
  renderDriftSarif,
  saveDriftDetector,
} from "../../monitoring/index.js";
import { parseFormats, writeReports } from "../../report/write.js";
import { sliceRows } from "../../tensor.js";
import { info, loadData, printJson } from "../common.js";
import { parseInteger, parseNumber, runtimeOptions, withData, withJson, withOut, withRuntime, withSamples, withSeed } from "../options.js";

/** `aegis drift check` exits with this when any test reports drift (the reports are still written). */
export const DRIFT_EXIT = 14;

const FORMATS = ["json", "md", "html", "sarif"] as const;

export function driftCommand(): Command {
  return new Command("drift")
    .description("data and prediction drift for batch pipelines: fit a detector on reference data, check current data against it")
    .addCommand(fitCommand())
    .addCommand(checkCommand());
}

/** "a,b,c", or a JSON file with a "features" array (the --constraints format). */
function featureNames(spec: string | undefined): string[] | undefined {
  if (spec === undefined) return undefined;
  if (!spec.endsWith(".json")) return spec.split(",").map((s) => s.trim());
  let names: unknown;
  try {
    names = JSON.parse(readFileSync(spec, "utf8")).features;
  } catch (e) {
    throw new AegisError("BAD_OPTION", `--feature-names: cannot read ${spec} as JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(names) || !names.every((n) => typeof n === "string"))
    throw new AegisError("BAD_OPTION", `--feature-names: ${spec} has no "features" array of names`);
  return names;
}

function fitCommand(): Command {
  const cmd = new Command("fit")
    .description("fit a drift detector on reference data: per-feature KS/chi-square for tabular rows, MMD on the model's penultimate features otherwise")
    .requiredOption("--model <file>", "ONNX model whose inputs and predictions are watched");
  withData(cmd, "reference data, as the model saw it in training or validation", undefined, { split: "train" });
  cmd
    .option("--alpha <a>", "false-alarm rate of a whole check under no drift (Bonferroni over its tests)", parseNumber("--alpha"), DEFAULT_ALPHA)
    .option("--feature-names <list>", 'tabular: comma-separated names, or a JSON file with a "features" array (default feature_0 …)')
    .option("--categorical <list>", "tabular: features tested by chi-square, by name or index (default: integer features with at most --max-categories values)")
    .option("--max-categories <n>", "tabular: most distinct integer values of a feature still treated as categorical", parseInteger("--max-categories", 1), 10)
    .option("--reference-size <n>", "MMD: reference rows kept (a seeded random subset)", parseInteger("--reference-size", 10), 1000)
    .option("--permutations <n>", "MMD: permutations of each check's p-value", parseInteger("--permutations", 19), 200)
    .option("--max-current <n>", "MMD: largest current batch tested (a seeded random subset beyond it)", parseInteger("--max-current", 10), 1000)
    .option("--layer <name>", "MMD: the model value to read features from (default: the penultimate layer)");
  withSeed(cmd, "the reference subset and the bandwidth estimate");
  withOut(cmd, "the detector file to write", undefined, true);
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    const data = loadInputs(cmd, opts);
    const categorical =
      opts.categorical === undefined
        ? undefined
        : String(opts.categorical)
            .split(",")
            .map((s) => (/^\d+$/.test(s.trim()) ? Number(s) : s.trim()));
    const file = await fitDrift(opts.model, data, {
      ...runtimeOptions(opts),
      alpha: opts.alpha,
      featureNames: featureNames(opts.featureNames),
      categorical,
      maxCategories: opts.maxCategories,
      referenceSize: opts.referenceSize,
      permutations: opts.permutations,
      maxCurrent: opts.maxCurrent,
      layer: opts.layer,
      seed: opts.seed,
    });
    saveDriftDetector(opts.out, file);
    const d = file.detector;
    const what =
      d.method === "features"
        ? `${d.features?.length} features (${d.features?.filter((f) => f.type === "categorical").length} categorical)`
        : `MMD on ${file.model.layer} (${d.reference.values.dim} features, ${d.reference.values.rows} reference rows, σ ${d.mmd?.sigma.toPrecision(3)})`;
    info(`wrote ${opts.out}: ${what}, predictions over ${d.reference.classes} classes, α = ${d.alpha}`);
  });
}

/** Drift needs no labels: an .npz without "y" is fine unless --y-key names one. */
function loadInputs(cmd: Command, opts: { data: string; xKey: string; yKey: string; split: string }): Dataset {
  return loadData(opts.data, { xKey: opts.xKey, yKey: cmd.getOptionValueSource("yKey") === "cli" ? opts.yKey : undefined, split: opts.split });
}

function firstRows(data: Dataset, limit: number | undefined): Dataset {
  return limit === undefined || limit >= data.x.shape[0] ? data : { ...data, x: sliceRows(data.x, 0, limit) };
}

function checkCommand(): Command {
  const cmd = new Command("check")
    .description(`test current data against a drift detector; exits ${DRIFT_EXIT} on drift`)
    .requiredOption("--detector <file>", "the detector aegis drift fit wrote")
    .option("--model <file>", "the model to run (default: the file the detector was fitted with; it must be the same model)");
  withData(cmd, "current data to check");
  withSamples(cmd, "check the first n rows");
  cmd.option("--format <list>", `reports to write into --out: ${FORMATS.join(",")}`);
  withSeed(cmd, "the MMD permutations");
  withOut(cmd, "report folder for --format", "aegis-drift");
  withJson(cmd, "the report");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    const formats = opts.format === undefined ? [] : parseFormats(opts.format, FORMATS);
    const file = loadDriftDetector(opts.detector);
    const data = firstRows(loadInputs(cmd, opts), opts.samples);
    const report = await checkDrift(file, data, { ...runtimeOptions(opts), model: opts.model, seed: opts.seed });
    if (formats.length > 0) {
      const written = writeReports(opts.out, formats, {
        json: () => `${JSON.stringify(report, null, 2)}\n`,
        md: () => renderDriftMarkdown(report),
        html: () => renderDriftHtml(report, data.x),
        sarif: () => renderDriftSarif(report),
      });
      info(`wrote ${Object.values(written).join(", ")}`);
    }
    if (opts.json) printJson(report);
    else process.stdout.write(`${summaryLines(report).join("\n")}\n`);
    if (report.drift) process.exitCode = DRIFT_EXIT;
  });
}

function summaryLines(r: DriftReport): string[] {
  const lines = [
    `${r.drift ? "DRIFT" : "no drift"}: ${r.current.data} (${r.current.samples} rows) against ${r.reference.data}, α = ${r.alpha} (Bonferroni over ${r.tests.length} tests)`,
  ];
  for (const t of r.tests) {
    const p = t.pValue < 1e-4 ? t.pValue.toExponential(1) : t.pValue.toFixed(4);
    lines.push(`  ${t.drifted ? "DRIFT" : "ok   "} ${t.kind.padEnd(10)} ${t.name.padEnd(22)} ${t.test.padEnd(10)} p ${p}`);
  }
  return lines;
}
