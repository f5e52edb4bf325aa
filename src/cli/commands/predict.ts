import { Command } from "commander";
import { checkLabels } from "../../data/index.js";
import type { Predictor } from "../../engine/capabilities.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { HttpPredictor } from "../../engine/http.js";
import { argmaxRow } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { labelsOf, sliceRows } from "../../tensor.js";
import { info, loadData, printJson, progressBar } from "../common.js";
import { runtimeOptions, withBatchSize, withData, withJson, withRuntime } from "../options.js";
import { addTargetOptions, targetPredictor } from "../target.js";

export function predictCommand(): Command {
  const cmd = new Command("predict")
    .description("predict classes over a dataset and report accuracy when it has labels")
    .option("--model <file>", "ONNX model");
  withData(cmd, "the samples to predict");
  withBatchSize(cmd, 256);
  withJson(cmd, "the predictions and accuracy");
  withRuntime(cmd);
  addTargetOptions(cmd);
  return cmd.action(async (opts) => {
    if (Boolean(opts.model) === Boolean(opts.target)) throw new AegisError("BAD_OPTION", "give either --model FILE or --target URL");
    const data = loadData(opts.data, opts);
    const clf: Predictor & { release?(): Promise<void> } = opts.target
      ? targetPredictor(opts, data.x.shape.slice(1), opts.batchSize)
      : await OnnxClassifier.fromFile(opts.model, { ...runtimeOptions(opts), batchSize: opts.batchSize });
    const labels = data.y ? labelsOf(data.y) : undefined;
    if (labels && !opts.target) checkLabels(data.y!, clf.numClasses);
    const n = data.x.shape[0];
    const predictions: number[] = [];
    const bar = progressBar("predict", n);
    const started = performance.now();
    for (let start = 0; start < n; start += opts.batchSize) {
      const end = Math.min(n, start + opts.batchSize);
      const out = await clf.predict(sliceRows(data.x, start, end));
      for (let i = 0; i < end - start; i++) predictions.push(argmaxRow(out, i));
      bar.update(end);
    }
    bar.stop();
    const seconds = (performance.now() - started) / 1000;
    const correct = labels ? predictions.filter((p, i) => p === labels[i]).length : undefined;
    const accuracy = correct === undefined ? undefined : correct / n;
    await clf.release?.();
    const queries = clf instanceof HttpPredictor ? clf.queries : undefined;
    if (opts.json)
      return printJson({ model: opts.model ?? opts.target, data: data.name, samples: n, accuracy: accuracy ?? null, predictions, queries, seconds });
    info(`${n} samples in ${seconds.toFixed(2)} s`);
    process.stdout.write(
      accuracy === undefined ? `predicted ${n} samples (no labels, so no accuracy)\n` : `accuracy ${(accuracy * 100).toFixed(2)}% (${correct}/${n})\n`,
    );
  });
}
