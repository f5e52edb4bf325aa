import { Command } from "commander";
import { saveNpz } from "../../data/index.js";
import { requireLabels } from "../../data/labels.js";
import type { LossName } from "../../engine/capabilities.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { float32, sliceRows } from "../../tensor.js";
import { info, loadData, printJson, progressBar } from "../common.js";
import { parseInteger, runtimeOptions, withBatchSize, withData, withJson, withOut, withRuntime } from "../options.js";

export function gradCommand(): Command {
  const cmd = new Command("grad")
    .description("gradient of each sample's loss (or class output) with respect to its input, written as array `grad`")
    .requiredOption("--model <file>", "ONNX model")
    .option("--loss <loss>", "ce | margin (Carlini–Wagner) | dlr (Croce–Hein)", "ce")
    .option("--target-class <k>", "take the gradient of class k's output instead of a loss", parseInteger("--target-class", 0))
    .option("--logits", "the model outputs logits")
    .option("--probs", "the model outputs probabilities (auto-detected when its last op is Softmax)");
  withData(cmd, "the samples to differentiate at");
  withOut(cmd, "the .npz to write (array grad, the input's shape)", undefined, true);
  withBatchSize(cmd, 128);
  withJson(cmd, "a summary");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    if (!["ce", "margin", "dlr"].includes(opts.loss)) throw new AegisError("BAD_OPTION", `--loss must be ce, margin or dlr, not "${opts.loss}"`);
    if (opts.logits && opts.probs) throw new AegisError("BAD_OPTION", "give --logits or --probs, not both");
    const data = loadData(opts.data, opts);
    const clf = await OnnxClassifier.fromFile(opts.model, {
      ...runtimeOptions(opts),
      batchSize: opts.batchSize,
      outputKind: opts.logits ? "logits" : opts.probs ? "probs" : "auto",
    });
    const n = data.x.shape[0];
    const classTarget: number | undefined = opts.targetClass;
    if (classTarget !== undefined && classTarget >= clf.numClasses) {
      throw new AegisError("LABEL_OUT_OF_RANGE", `--target-class ${classTarget} is outside the model's classes 0..${clf.numClasses - 1}`);
    }
    const labels = classTarget === undefined ? requireLabels(data, "a loss gradient") : new Array<number>(n).fill(classTarget);
    const grad = new Float32Array(data.x.data.length);
    const row = grad.length / Math.max(1, n);
    const bar = progressBar("grad", n);
    const started = performance.now();
    // Chunks bound memory by the batch, not the dataset: gradients stream into one output array.
    for (let start = 0; start < n; start += opts.batchSize) {
      const end = Math.min(n, start + opts.batchSize);
      const x = sliceRows(data.x, start, end);
      const y = labels.slice(start, end);
      const g = classTarget === undefined ? await clf.lossGradient(x, y, { loss: opts.loss as LossName }) : await clf.classGradient(x, y);
      grad.set(g.data, start * row);
      bar.update(end);
    }
    bar.stop();
    await clf.release();
    saveNpz(opts.out, { grad: float32(data.x.shape, grad) });
    const seconds = (performance.now() - started) / 1000;
    const summary = {
      model: opts.model,
      data: data.name,
      samples: n,
      loss: classTarget === undefined ? opts.loss : `class ${classTarget}`,
      out: opts.out,
      seconds,
    };
    if (opts.json) return printJson(summary);
    info(`wrote grad [${data.x.shape.join(", ")}] for ${n} samples to ${opts.out} in ${seconds.toFixed(2)} s`);
  });
}
