/** `aegis repair METHOD`: parses the flags, repairs a backdoored model (defenses/repairs) and reports before and after. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { compileTrigger, loadManifest } from "../../attacks/index.js";
import { requireLabels } from "../../data/index.js";
import {
  type DataInspectionReport,
  FINE_PRUNING_DEFAULTS,
  flaggedTriggers,
  inspectData,
  type ModelInspectionReport,
  REPAIR_METHODS,
  RETRAIN_DEFAULTS,
  type RepairMeasure,
  type RepairMethod,
  repairBackdoor,
  retrainWithout,
  UNLEARNING_DEFAULTS,
} from "../../defenses/index.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { loadModel, saveModel } from "../../onnx/io.js";
import { sliceRows } from "../../tensor.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import { parseInteger, parseNumber, runtimeOptions, withData, withJson, withOut, withRuntime, withSamples, withSeed } from "../options.js";

const pct = (v: number | undefined) => (v === undefined ? "—" : `${(v * 100).toFixed(1)}%`);
const line = (what: string, m: RepairMeasure) => `  ${what}: clean accuracy ${pct(m.clean_accuracy)}, attack success ${pct(m.attack_success_rate)}`;

const METHODS = [...REPAIR_METHODS, "retrain"] as const;

function readInspection<T>(file: string, command: string): T {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as T;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    throw new AegisError(
      missing ? "FILE_NOT_FOUND" : "BAD_DATA",
      missing ? `no inspection report at ${file}; check the path` : `${file} is not JSON; give the report.json of aegis ${command} --format json`,
    );
  }
}

/** One flag a row: the rows of an `aegis inspect-data` report. */
function flaggedRows(report: DataInspectionReport, file: string, rows: number): boolean[] {
  if (!Array.isArray(report.suspected) || typeof report.rows !== "number")
    throw new AegisError("BAD_DATA", `${file} is not an aegis inspect-data report; give its --json output or report.json of --format json`);
  if (report.rows !== rows)
    throw new AegisError("SHAPE_MISMATCH", `${file} inspected ${report.rows} rows but --data has ${rows}; give the data the inspection ran on`);
  const flags = new Array<boolean>(rows).fill(false);
  for (const s of report.suspected) {
    if (!(Number.isInteger(s?.row) && s.row >= 0 && s.row < rows))
      throw new AegisError("BAD_DATA", `${file} flags row ${JSON.stringify(s?.row)}, which --data (${rows} rows) does not have`);
    flags[s.row] = true;
  }
  return flags;
}

export function repairCommand(): Command {
  const cmd = new Command("repair")
    .description(
      "repair a backdoored model (fine-pruning, Neural Cleanse unlearning, retraining without flagged rows) and report clean accuracy and attack success before and after",
    )
    .argument("<method>", METHODS.join(" | "))
    .requiredOption("--model <file>", "the backdoored ONNX model");
  withData(cmd, "the defender's clean labelled data, tuned on (retrain: the poisoned training set the model was trained on)", undefined, {
    split: "train",
  });
  withSamples(cmd, "clean inputs to use (the first n; retrain takes every row)", 2000);
  withOut(cmd, "where to write the repaired ONNX model", undefined, true);
  cmd
    .requiredOption("--test-data <spec>", "held-out labelled data for the before and after numbers (mnist:test, an .npz…)")
    .option("--manifest <file>", "the poison manifest (aegis poison --manifest): adds the attack success rate before and after")
    .option(
      "--inspection <file>",
      "unlearning: the report.json of aegis inspect-model, whose flagged triggers are unlearned (default: run Neural Cleanse here); retrain: aegis inspect-data's JSON report, whose flagged rows are removed (default: run activation clustering here)",
    )
    .option(
      "--epochs <n>",
      `fine-tuning epochs (fine-pruning ${FINE_PRUNING_DEFAULTS.epochs}, unlearning ${UNLEARNING_DEFAULTS.epochs}; retrain: training epochs, ${RETRAIN_DEFAULTS.epochs})`,
      parseInteger("--epochs", 1),
    )
    .option(
      "--lr <rate>",
      `Adam learning rate (fine-pruning ${FINE_PRUNING_DEFAULTS.learningRate}, unlearning ${UNLEARNING_DEFAULTS.learningRate}, retrain ${RETRAIN_DEFAULTS.learningRate})`,
      parseNumber("--lr"),
    )
    .option(
      "--max-accuracy-drop <share>",
      "fine-pruning: stop pruning before held-out accuracy falls by more (Liu et al.: 0.04)",
      parseNumber("--max-accuracy-drop"),
    )
    .option("--stamped-share <share>", "unlearning: share of every batch stamped with a reversed trigger (Wang et al.: 0.2)", parseNumber("--stamped-share"));
  withSeed(cmd, "shuffling, the stamped rows and retrain's fresh weights");
  withJson(cmd, "the numbers before and after, and what the repair did");
  withRuntime(cmd);
  return cmd.action(async (method: string, opts) => {
    if (!(METHODS as readonly string[]).includes(method))
      throw new AegisError("BAD_OPTION", `the repair must be ${METHODS.slice(0, -1).join(", ")} or ${METHODS.at(-1)}, not "${method}"`);
    if (opts.inspection && method === "fine-pruning")
      throw new AegisError("BAD_OPTION", "--inspection is for unlearning and retrain (fine-pruning needs no trigger)");
    if (method === "retrain") {
      if (cmd.getOptionValueSource("samples") === "cli")
        throw new AegisError("BAD_OPTION", "retrain takes every row of --data (the inspection's row numbers refer to them); drop --samples");
      if (opts.stampedShare !== undefined || opts.maxAccuracyDrop !== undefined)
        throw new AegisError("BAD_OPTION", "--stamped-share and --max-accuracy-drop are for unlearning and fine-pruning, not retrain");
      return retrain(opts);
    }
    const data = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: opts.split });
    const labels = requireLabels(data, "repair");
    const n = Math.min(opts.samples, data.x.shape[0]);
    const clean = { x: sliceRows(data.x, 0, n), labels: labels.slice(0, n) };
    const testSet = loadData(opts.testData, { xKey: opts.xKey, yKey: opts.yKey, split: "test" });
    const test = { x: testSet.x, labels: requireLabels(testSet, "measuring the repair") };
    const manifest = opts.manifest ? loadManifest(opts.manifest) : undefined;
    const sample = clean.x.shape.slice(1);
    const triggers = opts.inspection
      ? flaggedTriggers(readInspection<ModelInspectionReport>(opts.inspection, "inspect-model"), sample).map((c) => ({
          class: c.class,
          trigger: compileTrigger({ kind: "mask", mask: c.mask, pattern: c.pattern }, sample),
        }))
      : undefined;
    const model = await OnnxClassifier.create(loadModel(opts.model), { ...runtimeOptions(opts), trainable: true });
    const signal = interruptSignal();
    let result: Awaited<ReturnType<typeof repairBackdoor>>;
    try {
      result = await repairBackdoor(model, clean, {
        method: method as RepairMethod,
        test,
        manifest,
        triggers,
        finePruning: { epochs: opts.epochs, learningRate: opts.lr, maxAccuracyDrop: opts.maxAccuracyDrop, seed: opts.seed },
        unlearning: { epochs: opts.epochs, learningRate: opts.lr, stampedShare: opts.stampedShare, seed: opts.seed },
        neuralCleanse: { seed: opts.seed },
        progress: progressBar,
        signal,
        log: info,
      });
      saveModel(opts.out, model.exportModel());
    } finally {
      await model.release();
    }
    info(`wrote ${opts.out}`);
    if (opts.json) return printJson({ ...result, out: opts.out });
    process.stdout.write(
      `${[`${method} (${result.paper}), on ${result.test_samples} held-out inputs:`, line("before", result.before), line("after ", result.after)].join("\n")}\n`,
    );
  });
}

/** `aegis repair retrain`: the inspection's flagged rows removed, the architecture trained afresh on the rest. */
// biome-ignore lint/suspicious/noExplicitAny: commander's parsed options
async function retrain(opts: any): Promise<void> {
  const data = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: opts.split });
  const poisoned = { x: data.x, labels: requireLabels(data, "retraining") };
  const testSet = loadData(opts.testData, { xKey: opts.xKey, yKey: opts.yKey, split: "test" });
  const test = { x: testSet.x, labels: requireLabels(testSet, "measuring the repair") };
  const manifest = opts.manifest ? loadManifest(opts.manifest) : undefined;
  const runtime = runtimeOptions(opts);
  const backdoored = await OnnxClassifier.create(loadModel(opts.model), { ...runtime, trainable: true });
  const signal = interruptSignal();
  let outcome: Awaited<ReturnType<typeof retrainWithout>>;
  try {
    let flagged: boolean[];
    if (opts.inspection) flagged = flaggedRows(readInspection<DataInspectionReport>(opts.inspection, "inspect-data"), opts.inspection, data.x.shape[0]);
    else {
      info("looking for the poisoned rows with activation clustering (aegis inspect-data --json saves them for reuse)");
      const report = await inspectData(backdoored, { ...poisoned, name: data.name }, opts.model, { defence: "activation-clustering", seed: opts.seed });
      flagged = flaggedRows(report, "the inspection", data.x.shape[0]);
    }
    info(`retraining the architecture of ${opts.model} from scratch without the ${flagged.filter(Boolean).length} flagged of ${flagged.length} rows`);
    outcome = await retrainWithout(backdoored, poisoned, flagged, {
      epochs: opts.epochs,
      learningRate: opts.lr,
      seed: opts.seed,
      test,
      manifest,
      runtime,
      signal,
      onEpoch: (s) =>
        info(`epoch ${s.epoch}/${opts.epochs ?? RETRAIN_DEFAULTS.epochs}: loss ${s.loss.toFixed(4)}, training accuracy ${(s.accuracy * 100).toFixed(2)}%`),
    });
  } finally {
    await backdoored.release();
  }
  try {
    saveModel(opts.out, outcome.model.exportModel());
  } finally {
    await outcome.model.release();
  }
  info(`wrote ${opts.out}`);
  const { result } = outcome;
  if (opts.json) return printJson({ ...result, out: opts.out });
  const r = result.retrain;
  const missed = r.poisoned_left === undefined ? "" : ` (${r.poisoned_removed} poisoned, ${r.poisoned_left} poisoned rows left in)`;
  process.stdout.write(
    `${[
      `retrain (${result.paper}), without ${r.removed} of ${r.rows} rows${missed}, ${r.epochs} epochs; on ${result.test_samples} held-out inputs:`,
      line("before", result.before),
      line("after ", result.after),
    ].join("\n")}\n`,
  );
}
