import { basename } from "node:path";
import { Command } from "commander";
import { checkLabels, requireLabels } from "../../data/index.js";
import { ARCHITECTURES, type Architecture, buildArchitecture } from "../../engine/architectures.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { adam, sgd } from "../../engine/optimizers.js";
import { reinitialise } from "../../engine/reinitialise.js";
import { type EpochStats, train } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { loadModel, saveModel } from "../../onnx/io.js";
import type { Model } from "../../onnx/ir.js";
import { type DpRecord, describeDp, describePlan, dpRecord, trainDpSgd, withDpMetadata } from "../../privacy/index.js";
import { labelsOf } from "../../tensor.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import {
  aliased,
  dpOptions,
  parseInteger,
  parseNumber,
  runtimeOptions,
  withAlias,
  withBatchSize,
  withData,
  withDp,
  withJson,
  withOut,
  withRuntime,
  withSeed,
} from "../options.js";

export function trainCommand(): Command {
  const cmd = new Command("train")
    .description(
      "train a model defined in TypeScript (mlp, cnn, resnet-small; linear; he-cnn and he-mlp with x² activations for encrypted inference; dp-cnn, the tanh CNN of DP-SGD papers), or any differentiable ONNX model's architecture, with gradient graphs on ONNX Runtime",
    )
    .option("--arch <arch>", `architecture: ${ARCHITECTURES.join(" | ")}`, "cnn")
    .option("--like <model>", "train this ONNX model's architecture instead, with weights re-initialised (He/Glorot by layer type, seeded)");
  withData(cmd, "training data (mnist: its 8,000-sample train split; mnist-full: MNIST's 60,000)", "mnist", { split: false });
  withAlias(cmd, "--dataset", "--data");
  cmd
    .option("--test-data <spec>", "held-out data for per-epoch accuracy (default: the built-in set's test split)")
    .option("--epochs <n>", "epochs", parseInteger("--epochs", 1), 5)
    .option("--lr <rate>", "learning rate (default 1e-3 for adam, 0.05 for sgd)", parseNumber("--lr"))
    .option("--optimizer <name>", "sgd (momentum 0.9) | adam", "adam")
    .option("--momentum <m>", "sgd momentum", parseNumber("--momentum"), 0.9)
    .option("--weight-decay <w>", "L2 weight decay", parseNumber("--weight-decay"), 0);
  withBatchSize(cmd, 64, "samples per step");
  withSeed(cmd, "initialisation and shuffling");
  withOut(cmd, "where to write the trained ONNX model", undefined, true);
  withJson(cmd, "the training history");
  withRuntime(cmd);
  withDp(cmd);
  return cmd.action(async (opts) => {
    const dp = dpOptions(opts);
    if (opts.like && cmd.getOptionValueSource("arch") === "cli") throw new AegisError("BAD_OPTION", "give --arch or --like, not both");
    if (!opts.like && !ARCHITECTURES.includes(opts.arch))
      throw new AegisError("BAD_OPTION", `--arch must be one of ${ARCHITECTURES.join(", ")}, not "${opts.arch}"`);
    if (opts.optimizer !== "sgd" && opts.optimizer !== "adam") throw new AegisError("BAD_OPTION", `--optimizer must be sgd or adam, not "${opts.optimizer}"`);
    const dataSpec = aliased<string>(cmd, "data", "dataset") as string;
    const builtIn = dataSpec === "mnist" || dataSpec === "mnist-full";
    const trainData = loadData(dataSpec, { xKey: opts.xKey, yKey: opts.yKey, split: "train" });
    const testSpec: string | undefined = opts.testData ?? (builtIn ? dataSpec : undefined);
    const testData = testSpec ? loadData(testSpec, { xKey: opts.xKey, yKey: opts.yKey, split: "test" }) : undefined;
    const labels = requireLabels(trainData, "training");
    const labelClasses = Math.max(...labels) + 1;
    const model = opts.like
      ? likeModel(opts.like, opts.seed)
      : buildArchitecture(opts.arch as Architecture, { inputShape: trainData.x.shape.slice(1), numClasses: labelClasses, seed: opts.seed });
    const clf = await OnnxClassifier.create(model, { ...runtimeOptions(opts), trainable: true, batchSize: opts.batchSize });
    const numClasses = clf.numClasses;
    if (labelClasses > numClasses) {
      throw new AegisError(
        "BAD_DATA",
        `the labels go up to ${labelClasses - 1} but ${opts.like} has ${numClasses} outputs; give data with labels 0..${numClasses - 1}`,
      );
    }
    if (testData?.y) checkLabels(testData.y, numClasses);
    const name = opts.like ? `the architecture of ${basename(opts.like)}` : opts.arch;
    const lr: number = opts.lr ?? (opts.optimizer === "adam" ? 1e-3 : 0.05);
    const optimizer =
      opts.optimizer === "adam" ? adam({ lr, weightDecay: opts.weightDecay }) : sgd({ lr, momentum: opts.momentum, weightDecay: opts.weightDecay });
    const paramCount = clf.parameters.reduce((a, p) => a + p.value.length, 0);
    info(
      `training ${name} (${paramCount.toLocaleString("en-US")} parameters) on ${trainData.name}: ${trainData.x.shape[0]} samples, ${opts.epochs} epochs, ${opts.optimizer} lr ${lr}`,
    );
    let bar = progressBar("epoch 1", 1);
    const watch = {
      signal: interruptSignal(),
      validation: testData?.y ? { x: testData.x, labels: labelsOf(testData.y) } : undefined,
      onStep: ({ epoch, step, steps, loss }: { epoch: number; step: number; steps: number; loss: number }) => {
        if (step === 1) {
          bar.stop();
          bar = progressBar(`epoch ${epoch}/${opts.epochs}`, steps);
        }
        bar.update(step, `loss ${loss.toFixed(4)}`);
      },
      onEpoch: (s: EpochStats & { epsilon?: number }) => {
        bar.stop();
        const test =
          s.validationAccuracy === undefined ? "" : ` · test loss ${s.validationLoss?.toFixed(4)} accuracy ${(s.validationAccuracy * 100).toFixed(2)}%`;
        const spent = s.epsilon === undefined ? "" : ` · ε ${s.epsilon.toFixed(3)} spent (δ ${dp?.delta})`;
        info(
          `epoch ${s.epoch}/${opts.epochs}: loss ${s.loss.toFixed(4)} accuracy ${(s.accuracy * 100).toFixed(2)}%${test}${spent} · ${s.samplesPerSecond.toFixed(0)} samples/s`,
        );
      },
    };
    const data = { x: trainData.x, labels };
    let privacy: DpRecord | undefined;
    let history: EpochStats[];
    if (dp) {
      const result = await trainDpSgd(
        clf,
        data,
        { ...dp, batchSize: opts.batchSize, epochs: opts.epochs },
        {
          ...watch,
          optimizer,
          seed: opts.seed,
          onPlan: (plan) => info(describePlan(plan, trainData.x.shape[0], dp.targetEpsilon)),
        },
      );
      history = result.history;
      privacy = dpRecord(result.plan, result.history.at(-1)?.epsilon);
      info(`private: ${describeDp(privacy)}`);
    } else {
      history = await train(clf, data, { ...watch, epochs: opts.epochs, batchSize: opts.batchSize, optimizer, seed: opts.seed });
    }
    saveModel(opts.out, privacy ? withDpMetadata(clf.exportModel(), privacy) : clf.exportModel());
    await clf.release();
    info(`wrote ${opts.out}`);
    if (opts.json)
      printJson({
        arch: opts.like ? undefined : opts.arch,
        like: opts.like,
        dataset: trainData.name,
        out: opts.out,
        parameters: paramCount,
        differentialPrivacy: privacy,
        history,
      });
  });
}

/** The model of `path` with fresh weights. */
function likeModel(path: string, seed: number): Model {
  const { model, reinitialised } = reinitialise(loadModel(path), seed);
  info(`re-initialised ${reinitialised.length} weight tensors of ${path} (seed ${seed})`);
  return model;
}
