/** `aegis repair METHOD`: parses the flags, repairs a backdoored model (defenses/repairs) and reports before and after. */
import { readFileSync } from "node:fs";
import { Command } from "commander";
import { compileTrigger, loadManifest } from "../../attacks/index.js";
import { requireLabels } from "../../data/index.js";
import {
  FINE_PRUNING_DEFAULTS,
  flaggedTriggers,
  type ModelInspectionReport,
  REPAIR_METHODS,
  type RepairMeasure,
  type RepairMethod,
  repairBackdoor,
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

function readInspection(file: string): ModelInspectionReport {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as ModelInspectionReport;
  } catch (e) {
    const missing = (e as NodeJS.ErrnoException).code === "ENOENT";
    throw new AegisError(
      missing ? "FILE_NOT_FOUND" : "BAD_DATA",
      missing ? `no inspection report at ${file}; check the path` : `${file} is not JSON; give the report.json of aegis inspect-model --format json`,
    );
  }
}

export function repairCommand(): Command {
  const cmd = new Command("repair")
    .description(
      "repair a backdoored model with clean data (fine-pruning, Neural Cleanse unlearning) and report clean accuracy and attack success before and after",
    )
    .argument("<method>", REPAIR_METHODS.join(" | "))
    .requiredOption("--model <file>", "the backdoored ONNX model");
  withData(cmd, "the defender's clean labelled data, tuned on", undefined, { split: "train" });
  withSamples(cmd, "clean inputs to use (the first n)", 2000);
  withOut(cmd, "where to write the repaired ONNX model", undefined, true);
  cmd
    .requiredOption("--test-data <spec>", "held-out labelled data for the before and after numbers (mnist:test, an .npz…)")
    .option("--manifest <file>", "the poison manifest (aegis poison --manifest): adds the attack success rate before and after")
    .option(
      "--inspection <file>",
      "unlearning: the report.json of aegis inspect-model, whose flagged triggers are unlearned (default: run Neural Cleanse here)",
    )
    .option(
      "--epochs <n>",
      `fine-tuning epochs (fine-pruning ${FINE_PRUNING_DEFAULTS.epochs}, unlearning ${UNLEARNING_DEFAULTS.epochs})`,
      parseInteger("--epochs", 1),
    )
    .option(
      "--lr <rate>",
      `Adam learning rate (fine-pruning ${FINE_PRUNING_DEFAULTS.learningRate}, unlearning ${UNLEARNING_DEFAULTS.learningRate})`,
      parseNumber("--lr"),
    )
    .option(
      "--max-accuracy-drop <share>",
      "fine-pruning: stop pruning before held-out accuracy falls by more (Liu et al.: 0.04)",
      parseNumber("--max-accuracy-drop"),
    )
    .option("--stamped-share <share>", "unlearning: share of every batch stamped with a reversed trigger (Wang et al.: 0.2)", parseNumber("--stamped-share"));
  withSeed(cmd, "shuffling and the stamped rows");
  withJson(cmd, "the numbers before and after, and what the repair did");
  withRuntime(cmd);
  return cmd.action(async (method: string, opts) => {
    if (!REPAIR_METHODS.includes(method as RepairMethod))
      throw new AegisError("BAD_OPTION", `the repair must be ${REPAIR_METHODS.join(" or ")}, not "${method}"`);
    if (opts.inspection && method !== "unlearning") throw new AegisError("BAD_OPTION", "--inspection is for unlearning (fine-pruning needs no trigger)");
    const data = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: opts.split });
    const labels = requireLabels(data, "repair");
    const n = Math.min(opts.samples, data.x.shape[0]);
    const clean = { x: sliceRows(data.x, 0, n), labels: labels.slice(0, n) };
    const testSet = loadData(opts.testData, { xKey: opts.xKey, yKey: opts.yKey, split: "test" });
    const test = { x: testSet.x, labels: requireLabels(testSet, "measuring the repair") };
    const manifest = opts.manifest ? loadManifest(opts.manifest) : undefined;
    const sample = clean.x.shape.slice(1);
    const triggers = opts.inspection
      ? flaggedTriggers(readInspection(opts.inspection), sample).map((c) => ({
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
