import { Command } from "commander";
import { saveNpz } from "../../data/index.js";
import { requireLabels } from "../../data/labels.js";
import type { LossName } from "../../engine/capabilities.js";
import { openClassifier, TokenClassifier } from "../../engine/token-classifier.js";
import { AegisError } from "../../errors.js";
import { loadModel } from "../../onnx/io.js";
import { float32, sliceRows } from "../../tensor.js";
import { info, loadData, printJson, progressBar } from "../common.js";
import { parseInteger, runtimeOptions, withBatchSize, withData, withJson, withOut, withRuntime } from "../options.js";

export function gradCommand(): Command {
  const cmd = new Command("grad")
    .description(
      "gradient of each sample's loss (or class output) with respect to its input (for token-id models: the embedding output), written as array `grad`",
    )
    .requiredOption("--model <file>", "ONNX model")
    .option("--loss <loss>", "ce | margin (Carlini–Wagner) | dlr (Croce–Hein)", "ce")
    .option("--target-class <k>", "take the gradient of class k's output instead of a loss", parseInteger("--target-class", 0))
    .option("--logits", "the model outputs logits")
    .option("--probs", "the model outputs probabilities (auto-detected when its last op is Softmax)");
  withData(cmd, "the samples to differentiate at");
  withOut(cmd, "the .npz to write (array grad, the input's shape; [samples, tokens, embedding] for token ids)", undefined, true);
  withBatchSize(cmd, 128);
  withJson(cmd, "a summary");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    if (!["ce", "margin", "dlr"].includes(opts.loss)) throw new AegisError("BAD_OPTION", `--loss must be ce, margin or dlr, not "${opts.loss}"`);
    if (opts.logits && opts.probs) throw new AegisError("BAD_OPTION", "give --logits or --probs, not both");
    const data = loadData(opts.data, opts);
    const clf = await openClassifier(loadModel(opts.model), {
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
    // Token ids have no gradient: theirs is taken with respect to their embedding.
    const shape = clf instanceof TokenClassifier ? [...data.x.shape, clf.dimension] : data.x.shape;
    const grad = new Float32Array(shape.reduce((a, c) => a * c, 1));
    const row = grad.length / Math.max(1, n);
    const bar = progressBar("grad", n);
    const started = performance.now();
    // Chunks bound memory by the batch, not the dataset: gradients stream into one output array.
    for (let start = 0; start < n; start += opts.batchSize) {
      const end = Math.min(n, start + opts.batchSize);
      const x = sliceRows(data.x, start, end);
      const y = labels.slice(start, end);
      const loss = { loss: opts.loss as LossName };
      const g =
        clf instanceof TokenClassifier
          ? classTarget === undefined
            ? (await clf.embeddingGradient(x, clf.embed(x), y, loss)).grad
            : await clf.embeddingClassGradient(x, y)
          : classTarget === undefined
            ? await clf.lossGradient(x, y, loss)
            : await clf.classGradient(x, y);
      grad.set(g.data, start * row);
      bar.update(end);
    }
    bar.stop();
    await clf.release();
    saveNpz(opts.out, { grad: float32(shape, grad) });
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
    info(`wrote grad [${shape.join(", ")}] for ${n} samples to ${opts.out} in ${seconds.toFixed(2)} s`);
  });
}
