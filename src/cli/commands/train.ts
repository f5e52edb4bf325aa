import { Command } from "commander";
import { checkLabels } from "../../data/index.js";
import { requireLabels } from "../../data/labels.js";
import { ARCHITECTURES, type Architecture, buildArchitecture } from "../../engine/architectures.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { adam, sgd } from "../../engine/optimizers.js";
import { train } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { saveModel } from "../../onnx/io.js";
import { labelsOf } from "../../tensor.js";
import { addRuntimeOptions, info, interruptSignal, loadData, parseInteger, parseNumber, printJson, progressBar, runtimeOptions } from "../common.js";

export function trainCommand(): Command {
  const cmd = new Command("train")
    .description("train a model defined in TypeScript (mlp, cnn, resnet-small) with gradient graphs on ONNX Runtime")
    .option("--arch <arch>", `architecture: ${ARCHITECTURES.join(" | ")}`, "cnn")
    .option("--dataset <spec>", "mnist (its 8,000-sample train split) or an .npz/CSV file or image folder", "mnist")
    .option("--test-data <spec>", "held-out data for per-epoch accuracy (default: mnist's 2,000-sample test split when --dataset is mnist)")
    .option("--x-key <key>", "array of inputs in an .npz file", "x")
    .option("--y-key <key>", "array of labels in an .npz file", "y")
    .option("--epochs <n>", "epochs", parseInteger("--epochs", 1), 5)
    .option("--batch-size <n>", "samples per step", parseInteger("--batch-size", 1), 64)
    .option("--lr <rate>", "learning rate (default 1e-3 for adam, 0.05 for sgd)", parseNumber("--lr"))
    .option("--optimizer <name>", "sgd (momentum 0.9) | adam", "adam")
    .option("--momentum <m>", "sgd momentum", parseNumber("--momentum"), 0.9)
    .option("--weight-decay <w>", "L2 weight decay", parseNumber("--weight-decay"), 0)
    .option("--seed <s>", "seed for initialisation and shuffling", parseInteger("--seed", 0), 0)
    .requiredOption("--out <file>", "where to write the trained ONNX model")
    .option("--json", "print the training history as JSON on stdout");
  addRuntimeOptions(cmd);
  return cmd.action(async (opts) => {
    if (!ARCHITECTURES.includes(opts.arch)) throw new AegisError("BAD_OPTION", `--arch must be one of ${ARCHITECTURES.join(", ")}, not "${opts.arch}"`);
    if (opts.optimizer !== "sgd" && opts.optimizer !== "adam") throw new AegisError("BAD_OPTION", `--optimizer must be sgd or adam, not "${opts.optimizer}"`);
    const isMnist = opts.dataset === "mnist";
    const trainData = loadData(opts.dataset, { xKey: opts.xKey, yKey: opts.yKey, split: "train" });
    const testSpec: string | undefined = opts.testData ?? (isMnist ? "mnist" : undefined);
    const testData = testSpec ? loadData(testSpec, { xKey: opts.xKey, yKey: opts.yKey, split: "test" }) : undefined;
    const labels = requireLabels(trainData, "training");
    const numClasses = Math.max(...labels) + 1;
    const model = buildArchitecture(opts.arch as Architecture, { inputShape: trainData.x.shape.slice(1), numClasses, seed: opts.seed });
    const clf = await OnnxClassifier.create(model, { ...runtimeOptions(opts), trainable: true, batchSize: opts.batchSize });
    if (testData?.y) checkLabels(testData.y, numClasses);
    const lr: number = opts.lr ?? (opts.optimizer === "adam" ? 1e-3 : 0.05);
    const optimizer =
      opts.optimizer === "adam" ? adam({ lr, weightDecay: opts.weightDecay }) : sgd({ lr, momentum: opts.momentum, weightDecay: opts.weightDecay });
    const paramCount = clf.parameters.reduce((a, p) => a + p.value.length, 0);
    info(
      `training ${opts.arch} (${paramCount.toLocaleString("en-US")} parameters) on ${trainData.name}: ${trainData.x.shape[0]} samples, ${opts.epochs} epochs, ${opts.optimizer} lr ${lr}`,
    );
    let bar = progressBar("epoch 1", 1);
    const history = await train(
      clf,
      { x: trainData.x, labels },
      {
        epochs: opts.epochs,
        batchSize: opts.batchSize,
        optimizer,
        seed: opts.seed,
        signal: interruptSignal(),
        validation: testData?.y ? { x: testData.x, labels: labelsOf(testData.y) } : undefined,
        onStep: ({ epoch, step, steps, loss }) => {
          if (step === 1) {
            bar.stop();
            bar = progressBar(`epoch ${epoch}/${opts.epochs}`, steps);
          }
          bar.update(step, `loss ${loss.toFixed(4)}`);
        },
        onEpoch: (s) => {
          bar.stop();
          const test =
            s.validationAccuracy === undefined ? "" : ` · test loss ${s.validationLoss?.toFixed(4)} accuracy ${(s.validationAccuracy * 100).toFixed(2)}%`;
          info(
            `epoch ${s.epoch}/${opts.epochs}: loss ${s.loss.toFixed(4)} accuracy ${(s.accuracy * 100).toFixed(2)}%${test} · ${s.samplesPerSecond.toFixed(0)} samples/s`,
          );
        },
      },
    );
    saveModel(opts.out, clf.exportModel());
    await clf.release();
    info(`wrote ${opts.out}`);
    if (opts.json) printJson({ arch: opts.arch, dataset: trainData.name, out: opts.out, parameters: paramCount, history });
  });
}
