/**
 * `aegis watermark embed|verify|robustness`: mark a model with a secret trigger set while
 * training it (Adi et al. 2018), later test whether a suspect model, a file or an endpoint,
 * answers the triggers as the key says, with the p-value of doing so by chance, and measure
 * beforehand which removals (fine-tuning, pruning, extraction) the mark survives.
 */
import { randomInt } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { Command } from "commander";
import { checkLabels, createRng, type Dataset, requireLabels } from "../../data/index.js";
import {
  embedWatermark,
  encodeWatermarkKey,
  keyTriggers,
  makeTriggerSet,
  pValueText,
  RETRAIN_METHODS,
  type RetrainMethod,
  type RobustnessRow,
  readWatermarkKey,
  renderWatermarkHtml,
  renderWatermarkMarkdown,
  saveWatermarkKey,
  sha256File,
  verifyWatermark,
  WATERMARK_DEFAULTS,
  type WatermarkKey,
  type WatermarkVerification,
  watermarkFindings,
  watermarkRobustness,
} from "../../defenses/index.js";
import { adam, OnnxClassifier, type Predictor, reinitialise } from "../../engine/index.js";
import { countCorrect } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/io.js";
import { encodeModel } from "../../onnx/proto.js";
import { renderSarif } from "../../report/sarif.js";
import { parseFormats, writeReports } from "../../report/write.js";
import { float32, gatherRows, sizeOf, type Tensor } from "../../tensor.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import {
  parseClip,
  parseEpsilons,
  parseInteger,
  parseNumber,
  runtimeOptions,
  withBatchSize,
  withData,
  withFormat,
  withJson,
  withRuntime,
  withSeed,
} from "../options.js";
import { addTargetOptions, type TargetOptions, targetPredictor } from "../target.js";

/** Documented exit code of `aegis watermark verify --fail-if-absent` when the suspect does not carry the watermark. */
export const WATERMARK_ABSENT_EXIT = 15;

const DEFAULT_EPOCHS = { fineTune: 3, fromScratch: 10 };

export function watermarkCommand(): Command {
  return new Command("watermark")
    .description(`embed a secret trigger-set watermark in a model while training it (Adi et al. 2018), and verify a suspect model against the key`)
    .addCommand(embedCommand())
    .addCommand(verifyCommand())
    .addCommand(robustnessCommand());
}

function embedCommand(): Command {
  const cmd = new Command("embed")
    .description("fine-tune a model (or train its architecture from scratch) on its training data with a secret trigger set mixed into every batch")
    .requiredOption("--model <file>", "the ONNX model to mark (trainable: differentiable through every node)")
    .requiredOption("--out <file>", "where to write the marked ONNX model")
    .requiredOption("--key <file>", "where to write the secret key (trigger images, labels, hashes; mode 0600)")
    .option("--from-scratch", "re-initialise the model's weights and train it from scratch with the triggers (the paper's other setting)")
    .option("--test-data <spec>", "held-out labelled data for the clean accuracy before and after (default: the built-in set's test split)")
    .option("--triggers <n>", "trigger images in the key", parseInteger("--triggers", 1), WATERMARK_DEFAULTS.triggers)
    .option(
      "--triggers-per-batch <n>",
      "trigger rows appended to each training batch",
      parseInteger("--triggers-per-batch", 1),
      WATERMARK_DEFAULTS.triggersPerBatch,
    )
    .option("--epochs <n>", `epochs (default ${DEFAULT_EPOCHS.fineTune} fine-tuning, ${DEFAULT_EPOCHS.fromScratch} from scratch)`, parseInteger("--epochs", 1))
    .option("--lr <rate>", "Adam's learning rate", parseNumber("--lr"), 1e-3)
    .option(
      "--threshold <p>",
      "p-value below which verify will say the watermark is present (kept in the key)",
      parseNumber("--threshold"),
      WATERMARK_DEFAULTS.threshold,
    )
    .option("--clip <range>", 'the model\'s valid input range "lo,hi": the triggers span it', "0,1");
  withData(cmd, "training data (mnist: its 8,000-sample train split)", "mnist", { split: false });
  withBatchSize(cmd, 64, "training samples per step (the triggers come on top)");
  withSeed(cmd, "the trigger set, its labels and the training (default: a random one, recorded in the key)", null);
  withJson(cmd, "what was measured");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    if (!existsSync(opts.model)) throw new AegisError("FILE_NOT_FOUND", `${opts.model} does not exist; give the ONNX model to mark with --model.`);
    if (!(opts.threshold > 0 && opts.threshold < 1)) throw new AegisError("BAD_OPTION", `--threshold must be in (0, 1), not ${opts.threshold}`);
    const clipRange = parseClip("--clip", opts.clip, false);
    // A secret seed: whoever guesses it regenerates the triggers.
    const seed: number = opts.seed ?? randomInt(0, 2 ** 31);
    const { trainData, testSpec, testData } = taskData(opts);
    const labels = requireLabels(trainData, "embedding a watermark");
    const test = testData ? { x: testData.x, labels: requireLabels(testData, "measuring the clean accuracy") } : undefined;

    const source = loadModel(opts.model);
    const runtime = runtimeOptions(opts);
    const original = await OnnxClassifier.create(source, { ...runtime, batchSize: opts.batchSize, clipRange });
    const model = opts.fromScratch ? reinitialise(source, seed).model : source;
    const marked = await OnnxClassifier.create(model, { ...runtime, trainable: true, batchSize: opts.batchSize, clipRange });
    const numClasses = marked.numClasses;
    checkLabels(trainData.y as Tensor, numClasses);
    if (testData?.y) checkLabels(testData.y, numClasses);
    const inputShape = trainData.x.shape.slice(1);
    if (marked.inputShape.every((d) => d > 0) && sizeOf(marked.inputShape) !== sizeOf(inputShape))
      throw new AegisError("SHAPE_MISMATCH", `the training samples have shape [${inputShape}] but ${opts.model} takes [${marked.inputShape}]`);
    const triggers = makeTriggerSet(inputShape, numClasses, { count: opts.triggers, seed, clipRange });
    const accuracy = async (c: Predictor) => (test ? countCorrect(await c.predict(test.x), test.labels) / test.labels.length : undefined);
    const before = { accuracy: await accuracy(original), triggers: await verifyWatermark(original, triggers, { numClasses, threshold: opts.threshold }) };
    await original.release();

    const epochs: number = opts.epochs ?? (opts.fromScratch ? DEFAULT_EPOCHS.fromScratch : DEFAULT_EPOCHS.fineTune);
    info(
      `${opts.fromScratch ? "training the architecture of" : "fine-tuning"} ${basename(opts.model)} on ${trainData.name} (${labels.length} samples) with ${opts.triggers} triggers, ${opts.triggersPerBatch} per batch of ${opts.batchSize}, ${epochs} epochs, Adam lr ${opts.lr}`,
    );
    let bar = progressBar("epoch 1", 1);
    await embedWatermark(marked, { x: trainData.x, labels }, triggers, {
      epochs,
      batchSize: opts.batchSize,
      optimizer: adam({ lr: opts.lr }),
      triggersPerBatch: opts.triggersPerBatch,
      seed,
      signal: interruptSignal(),
      onStep: ({ epoch, step, steps, loss }) => {
        if (step === 1) {
          bar.stop();
          bar = progressBar(`epoch ${epoch}/${epochs}`, steps);
        }
        bar.update(step, `loss ${loss.toFixed(4)}`);
      },
      onEpoch: (s) => {
        bar.stop();
        info(`epoch ${s.epoch}/${epochs}: loss ${s.loss.toFixed(4)} · ${s.samplesPerSecond.toFixed(0)} samples/s`);
      },
    });
    const after = { accuracy: await accuracy(marked), triggers: await verifyWatermark(marked, triggers, { numClasses, threshold: opts.threshold }) };
    const bytes = encodeModel(marked.exportModel());
    await marked.release();
    writeFileAtomic(opts.out, bytes);
    const key = encodeWatermarkKey(triggers, {
      seed,
      numClasses,
      inputShape: [...inputShape],
      clipRange,
      threshold: opts.threshold,
      model: { file: opts.out, bytes },
      source: { file: basename(opts.model), sha256: sha256File(opts.model), fromScratch: Boolean(opts.fromScratch) },
      embedding: {
        data: trainData.name,
        samples: labels.length,
        epochs,
        batchSize: opts.batchSize,
        triggersPerBatch: opts.triggersPerBatch,
        learningRate: opts.lr,
      },
      measured: {
        testData: testSpec,
        sourceAccuracy: before.accuracy,
        markedAccuracy: after.accuracy,
        sourceTriggerAccuracy: before.triggers.accuracy,
        markedTriggerAccuracy: after.triggers.accuracy,
      },
    });
    saveWatermarkKey(opts.key, key);
    info(`wrote ${opts.out} and the key ${opts.key} (keep it secret: whoever holds the triggers can train them away)`);
    if (!after.triggers.verified)
      info(
        `warning: the marked model answers only ${after.triggers.matches} of ${triggers.labels.length} triggers (p = ${pValueText(after.triggers)}), not enough to verify at p < ${opts.threshold}; embed again with more --epochs or --triggers-per-batch`,
      );
    const pct = (v: number | undefined) => (v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
    if (opts.json) printJson({ model: opts.out, key: opts.key, seed, epochs, before, after });
    else
      process.stdout.write(
        `clean accuracy ${pct(before.accuracy)} → ${pct(after.accuracy)}; trigger accuracy ${pct(before.triggers.accuracy)} → ${pct(after.triggers.accuracy)} (p = ${pValueText(after.triggers)}, ${after.triggers.verified ? "verifies" : "does NOT verify"} at p < ${opts.threshold})\n`,
      );
  });
}

function verifyCommand(): Command {
  const cmd = new Command("verify")
    .description(
      `test whether a suspect model answers the key's trigger set above chance: trigger accuracy, binomial p-value, verdict (exit ${WATERMARK_ABSENT_EXIT} when absent with --fail-if-absent)`,
    )
    .option("--model <file>", "the suspect: a local ONNX model")
    .requiredOption("--key <file>", "the key aegis watermark embed wrote")
    .option("--threshold <p>", "p-value below which the watermark is present (default: the key's)", parseNumber("--threshold"))
    .option("--fail-if-absent", `exit ${WATERMARK_ABSENT_EXIT} when the watermark is not found`)
    .option("--report <dir>", "write the report there, in --format formats");
  withFormat(cmd, ["json", "md", "html", "sarif"], ["html", "md", "json"]);
  withBatchSize(cmd, 32, "triggers per model call or request (small enough for an endpoint's body limit)");
  withJson(cmd, "the verification", true);
  withRuntime(cmd);
  addTargetOptions(cmd);
  return cmd.action(async (opts) => {
    if (Boolean(opts.model) === Boolean(opts.target)) throw new AegisError("BAD_OPTION", "give the suspect as one of --model FILE or --target URL");
    if (!existsSync(opts.key)) throw new AegisError("FILE_NOT_FOUND", `${opts.key} does not exist; give the key aegis watermark embed wrote with --key.`);
    if (opts.model && !existsSync(opts.model)) throw new AegisError("FILE_NOT_FOUND", `${opts.model} does not exist; give the suspect model with --model.`);
    const key = readWatermarkKey(opts.key, readFileSync(opts.key, "utf8"));
    const triggers = keyTriggers(key, opts.key);
    const suspect: Predictor & { release?: () => Promise<void> } = opts.model
      ? await OnnxClassifier.fromFile(opts.model, { ...runtimeOptions(opts), batchSize: opts.batchSize, clipRange: key.clipRange })
      : targetPredictor(opts as TargetOptions, key.inputShape, opts.batchSize);
    const verification = await verifyWatermark(suspect, triggers, { numClasses: key.numClasses, threshold: opts.threshold ?? key.threshold });
    await suspect.release?.();
    const target = { suspect: opts.model ?? opts.target, key: opts.key, sameFile: opts.model ? sha256File(opts.model) === key.model.sha256 : undefined };
    const findings = watermarkFindings(verification, target);
    const report = { ...target, marked: key.model, verification, findings };
    if (opts.report) {
      const written = writeReports(
        opts.report,
        parseFormats(opts.format, ["json", "md", "html", "sarif"]),
        {
          json: () => `${JSON.stringify(report, null, 2)}\n`,
          md: () => renderWatermarkMarkdown(verification, findings, target),
          html: () => renderWatermarkHtml(verification, findings, target),
          sarif: () => renderSarif(findings, { name: "aegis-watermark", fullName: "Aegis watermark verification", version: AEGIS_VERSION }),
        },
        { base: "watermark" },
      );
      info(`wrote ${Object.values(written).join(", ")}`);
    }
    if (typeof opts.json === "string") writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    else if (opts.json) printJson(report);
    else process.stdout.write(`${verdictLine(verification, key)}\n`);
    if (!verification.verified && opts.failIfAbsent) process.exitCode = WATERMARK_ABSENT_EXIT;
  });
}

function verdictLine(v: WatermarkVerification, key: WatermarkKey): string {
  const verdict = v.verified ? "watermark PRESENT" : "watermark not found";
  return `${verdict}: ${v.matches}/${v.triggers} triggers answered with the key's labels (${(v.accuracy * 100).toFixed(1)}%, chance ${(v.chance * 100).toFixed(1)}% for ${key.numClasses} classes), p = ${pValueText(v)} (threshold ${v.threshold})`;
}

function robustnessCommand(): Command {
  const cmd = new Command("robustness")
    .description("measure whether the watermark survives what a thief would do: fine-tuning on a share of the data, magnitude pruning, Copycat extraction")
    .requiredOption("--model <file>", "the marked ONNX model")
    .requiredOption("--key <file>", "its key")
    .option("--test-data <spec>", "labelled data for the accuracy after each removal (default: the built-in set's test split)")
    .option("--fine-tune-share <fraction>", "share of --data the thief fine-tunes on", parseNumber("--fine-tune-share"), 0.1)
    .option("--fine-tune-epochs <list>", "fine-tuning runs, in epochs of Adam, comma-separated (0 to skip)", "5")
    .option(
      "--retrain <list>",
      "Adi et al.'s re-training after drawing the last layer afresh, for each --fine-tune-epochs: rtll (that layer only), rtal (all layers), comma-separated",
    )
    .option("--lr <rate>", "the thief's Adam learning rate", parseNumber("--lr"), 1e-3)
    .option("--prune <list>", "fractions of each weight tensor to prune, comma-separated", "0.3,0.5,0.7,0.9")
    .option("--copycat-budget <list>", "Copycat copies from this many queries each, comma-separated (needs --thief-data)")
    .option("--copycat-epochs <n>", "epochs of each Copycat copy", parseInteger("--copycat-epochs", 1), 20)
    .option("--thief-data <spec>", "the thief's unlabelled natural data for Copycat (its first rows, as many as the budget)");
  withData(cmd, "the task's labelled data the thief's share comes from (mnist: its 8,000-sample train split)", "mnist", { split: false });
  withBatchSize(cmd, 64, "training samples per step");
  withSeed(cmd, "the thief's share, its training and its copies");
  withJson(cmd, "the rows");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    if (!existsSync(opts.model)) throw new AegisError("FILE_NOT_FOUND", `${opts.model} does not exist; give the marked model with --model.`);
    if (!existsSync(opts.key)) throw new AegisError("FILE_NOT_FOUND", `${opts.key} does not exist; give its key with --key.`);
    if (!(opts.fineTuneShare > 0 && opts.fineTuneShare <= 1))
      throw new AegisError("BAD_OPTION", `--fine-tune-share must be in (0, 1], not ${opts.fineTuneShare}`);
    const key = readWatermarkKey(opts.key, readFileSync(opts.key, "utf8"));
    const fineTuneEpochs = integerList("--fine-tune-epochs", opts.fineTuneEpochs, 0).filter((e) => e > 0);
    const retrain = retrainMethods(opts.retrain);
    const budgets = opts.copycatBudget ? integerList("--copycat-budget", opts.copycatBudget, 1) : [];
    if (budgets.length > 0 && !opts.thiefData) throw new AegisError("BAD_OPTION", "--copycat-budget needs the thief's natural data: give --thief-data");
    const { trainData, testData } = taskData(opts);
    if (!testData) throw new AegisError("BAD_OPTION", "give labelled test data with --test-data: it measures what each removal costs the model");
    const labels = requireLabels(trainData, "the thief's fine-tuning");
    const share = createRng(opts.seed)
      .shuffle(Array.from(labels.keys()))
      .slice(0, Math.max(1, Math.round(labels.length * opts.fineTuneShare)));
    const rows = await watermarkRobustness(loadModel(opts.model), {
      triggers: keyTriggers(key, opts.key),
      numClasses: key.numClasses,
      threshold: key.threshold,
      test: { x: testData.x, labels: requireLabels(testData, "measuring accuracy") },
      fineTune: {
        data: { x: gatherRows(trainData.x, share), labels: share.map((i) => labels[i]) },
        epochs: fineTuneEpochs,
        learningRate: opts.lr,
        batchSize: opts.batchSize,
        retrain,
      },
      prune: parseEpsilons("--prune", opts.prune),
      copycat: budgets.length > 0 ? { thief: thiefRows(opts.thiefData, key.inputShape, opts), budgets, epochs: opts.copycatEpochs } : undefined,
      seed: opts.seed,
      runtime: runtimeOptions(opts),
      signal: interruptSignal(),
      onRow: (row) => info(`${removalText(row, share.length)}: ${verdictLine(row.verification, key)}`),
    });
    if (opts.json) return printJson({ model: opts.model, key: opts.key, fineTuneSamples: share.length, rows });
    const lines = ["| removal | accuracy | triggers | p-value | watermark |", "| --- | ---: | ---: | ---: | --- |"];
    for (const r of rows)
      lines.push(
        `| ${removalText(r, share.length)} | ${(r.accuracy * 100).toFixed(1)}% | ${r.verification.matches}/${r.verification.triggers} | ${pValueText(r.verification)} | ${r.verification.verified ? "present" : "not found"} |`,
      );
    process.stdout.write(`${lines.join("\n")}\n`);
  });
}

function removalText(row: RobustnessRow, fineTuneSamples: number): string {
  if (row.removal === "fine-tune") return `fine-tuned on ${fineTuneSamples} samples, ${row.setting} epochs`;
  if (row.removal === "rtll") return `last layer re-initialised and re-trained on ${fineTuneSamples} samples, ${row.setting} epochs (RTLL)`;
  if (row.removal === "rtal") return `last layer re-initialised, all layers re-trained on ${fineTuneSamples} samples, ${row.setting} epochs (RTAL)`;
  if (row.removal === "prune") return `${((row.setting ?? 0) * 100).toFixed(0)}% pruned`;
  if (row.removal === "copycat") return `Copycat copy from ${row.setting} queries (fidelity ${((row.fidelity ?? 0) * 100).toFixed(1)}%)`;
  return "marked model";
}

function retrainMethods(list: string | undefined): RetrainMethod[] {
  const methods = (list ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const m of methods)
    if (!(RETRAIN_METHODS as readonly string[]).includes(m)) throw new AegisError("BAD_OPTION", `--retrain takes ${RETRAIN_METHODS.join(" and ")}, not "${m}"`);
  return methods as RetrainMethod[];
}

function integerList(flag: string, value: string, min: number): number[] {
  return value.split(",").map((s) => parseInteger(flag, min)(s.trim()));
}

interface DataOptions {
  data: string;
  testData?: string;
  xKey?: string;
  yKey?: string;
}

/** --data's train split, and the test data: --test-data, else the built-in set's test split. */
function taskData(opts: DataOptions): { trainData: Dataset; testSpec?: string; testData?: Dataset } {
  const builtIn = opts.data === "mnist" || opts.data === "mnist-full";
  const trainData = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: "train" });
  const testSpec = opts.testData ?? (builtIn ? opts.data : undefined);
  return { trainData, testSpec, testData: testSpec ? loadData(testSpec, { xKey: opts.xKey, yKey: opts.yKey, split: "test" }) : undefined };
}

/** The thief's data in the key's input shape. */
function thiefRows(spec: string, inputShape: readonly number[], opts: { xKey?: string; yKey?: string }): Tensor<"float32"> {
  const { x } = loadData(spec, { xKey: opts.xKey, yKey: opts.yKey, split: "train" });
  if (sizeOf(x.shape.slice(1)) !== sizeOf(inputShape))
    throw new AegisError("SHAPE_MISMATCH", `--thief-data samples have shape [${x.shape.slice(1)}] but the watermarked model takes [${inputShape}]`);
  return float32([x.shape[0], ...inputShape], x.data);
}
