/**
 * `aegis defend`: wraps a model in input preprocessors and output postprocessors (issue 4).
 * The preprocessors expressible in ONNX are baked into a new model file, so the deployed
 * model carries its defence; the others, and the postprocessors, are listed in a sidecar
 * (`<out>.defence.json`) for the run time. `--evaluate` measures the defence honestly:
 * non-adaptive attacks side by side with adaptive ones (BPDA, EOT, AutoAttack).
 */
import { mkdirSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { Command } from "commander";
import type { Norm } from "../../attacks/index.js";
import { type DefenceEvaluation, defenceEvaluationMarkdown, evaluateDefence } from "../../audit/index.js";
import { requireLabels } from "../../data/labels.js";
import {
  bakePreprocessors,
  buildPostprocessors,
  buildPreprocessors,
  type DefenceSpec,
  defenceSpecHelp,
  formatDefenceSpec,
  parseDefenceSpecs,
  sha256File,
  sidecarPath,
  writeSidecar,
} from "../../defenses/index.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel, saveModel } from "../../onnx/io.js";
import { gatherRows } from "../../tensor.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import {
  parseClip,
  parseEpsilons,
  parseInteger,
  runtimeOptions,
  withBatchSize,
  withData,
  withJson,
  withOut,
  withRuntime,
  withSamples,
  withSeed,
} from "../options.js";

export function defendCommand(): Command {
  const cmd = new Command("defend")
    .description("wrap a model in input/output defences: bake what ONNX can express, list the rest for run time, and evaluate it honestly")
    .requiredOption("--model <file>", "the undefended ONNX model")
    .option("--preprocess <specs>", `input defences, in order, e.g. squeeze:bits=4,smooth:window=3\n${defenceSpecHelp("preprocess")}`)
    .option("--postprocess <specs>", `output defences, in order, e.g. topk:k=1\n${defenceSpecHelp("postprocess")}`)
    .option("--clip <range>", 'valid input range "lo,hi"', "0,1")
    .option("--evaluate", "measure robust accuracy: non-adaptive vs adaptive attacks");
  withOut(cmd, "where to write the defended ONNX model (and <name>.defence.json next to it)");
  withData(cmd, "evaluation data", "mnist");
  withSamples(cmd, "evaluate on the first n samples", 200);
  cmd
    .option("--eps <list>", "comma-separated perturbation budgets", "0.1,0.2,0.3")
    .option("--norm <norm>", "inf or 2", "inf")
    .option("--max-iter <n>", "PGD iterations", parseInteger("--max-iter", 1), 40)
    .option("--eot <n>", "draws averaged per gradient for randomised preprocessors", parseInteger("--eot", 1), 10)
    .option("--no-autoattack", "skip AutoAttack (it dominates the evaluation time)")
    .option("--out-report <dir>", "write defence-evaluation.md and defence-evaluation.json there");
  withBatchSize(cmd, 128);
  withSeed(cmd, "the randomised defences and the attacks");
  withJson(cmd, "the result", true);
  withRuntime(cmd);
  return cmd.action(async (opts) => runDefend(opts));
}

interface DefendOpts {
  model: string;
  preprocess?: string;
  postprocess?: string;
  out?: string;
  clip: string;
  evaluate?: boolean;
  data: string;
  samples: number;
  eps: string;
  norm: string;
  maxIter: number;
  eot: number;
  autoattack: boolean;
  outReport?: string;
  batchSize: number;
  seed: number;
  json?: string | boolean;
  xKey?: string;
  yKey?: string;
  split?: string;
  threads?: number;
  device?: string;
}

async function runDefend(opts: DefendOpts): Promise<void> {
  if (!opts.preprocess && !opts.postprocess) throw new AegisError("BAD_OPTION", "give --preprocess and/or --postprocess (e.g. --preprocess squeeze:bits=4)");
  if (!opts.out && !opts.evaluate) throw new AegisError("BAD_OPTION", "give --out FILE to write the defended model, --evaluate to measure it, or both");
  if (opts.norm !== "inf" && opts.norm !== "2") throw new AegisError("BAD_OPTION", `--norm must be inf or 2, not "${opts.norm}"`);
  const clipRange = parseClip("--clip", opts.clip, false);
  const preSpecs: DefenceSpec[] = opts.preprocess ? parseDefenceSpecs(opts.preprocess, "--preprocess") : [];
  const postSpecs: DefenceSpec[] = opts.postprocess ? parseDefenceSpecs(opts.postprocess, "--postprocess") : [];
  const context = { clipRange, seed: opts.seed };
  const preprocessors = buildPreprocessors(preSpecs, context);
  const postprocessors = buildPostprocessors(postSpecs, context);
  const source = loadModel(opts.model);
  const { model: baked, baked: bakedList, runtime } = bakePreprocessors(source, preprocessors);
  const bakedSpecs = preSpecs.slice(preSpecs.length - bakedList.length).map(formatDefenceSpec);
  const runtimeSpecs = preSpecs.slice(0, runtime.length).map(formatDefenceSpec);
  const postSpecsText = postSpecs.map(formatDefenceSpec);
  info(`baked into the ONNX graph: ${bakedSpecs.join(", ") || "none"}`);
  info(`wraps at run time: ${[...runtimeSpecs, ...postSpecsText.map((s) => `${s} (output)`)].join(", ") || "nothing"}`);

  const files: Record<string, string> = {};
  if (opts.out) {
    saveModel(opts.out, baked);
    const sidecar = sidecarPath(opts.out);
    const dir = dirname(resolve(sidecar));
    writeSidecar(sidecar, {
      format: "aegis-defence",
      version: 1,
      model: relative(dir, resolve(opts.out)) || basename(opts.out),
      base: { file: relative(dir, resolve(opts.model)), sha256: sha256File(opts.model) },
      baked: bakedSpecs,
      runtime: runtimeSpecs,
      postprocess: postSpecsText,
      clip: clipRange,
      seed: opts.seed,
    });
    files.model = opts.out;
    files.sidecar = sidecar;
    info(`wrote ${opts.out} and ${sidecar}`);
  }

  let evaluation: DefenceEvaluation | undefined;
  if (opts.evaluate) {
    const classifier = await OnnxClassifier.create(source, { ...runtimeOptions(opts), batchSize: opts.batchSize, clipRange });
    const data = loadData(opts.data, opts);
    const labels = requireLabels(data, "an evaluation");
    const n = Math.min(opts.samples, data.x.shape[0]);
    const rows = Array.from({ length: n }, (_, i) => i);
    const x = gatherRows(data.x, rows);
    const y = labels.slice(0, n);
    const eps = parseEpsilons("--eps", opts.eps);
    const signal = interruptSignal();
    const bar = progressBar("defence evaluation", eps.length * (opts.autoattack ? 4 : 3));
    try {
      evaluation = await evaluateDefence(classifier, { preprocessors, postprocessors }, x, y, {
        eps,
        norm: opts.norm as Norm,
        maxIter: opts.maxIter,
        eot: opts.eot,
        autoattack: opts.autoattack,
        batchSize: opts.batchSize,
        seed: opts.seed,
        signal,
        onProgress: (stage, done) => bar.update(done, stage),
      });
    } finally {
      bar.stop();
      await classifier.release();
    }
    const markdown = defenceEvaluationMarkdown(evaluation);
    if (opts.outReport) {
      mkdirSync(opts.outReport, { recursive: true });
      files.markdown = join(opts.outReport, "defence-evaluation.md");
      files.report = join(opts.outReport, "defence-evaluation.json");
      writeFileAtomic(files.markdown, markdown);
      writeFileAtomic(files.report, `${JSON.stringify(evaluation, null, 2)}\n`);
      info(`wrote ${files.markdown} and ${files.report}`);
    }
    if (!opts.json) process.stdout.write(markdown);
  }
  const result = {
    model: opts.model,
    baked: bakedSpecs,
    runtime: runtimeSpecs,
    postprocess: postSpecsText,
    files,
    evaluation: evaluation ?? null,
  };
  if (typeof opts.json === "string") writeFileAtomic(opts.json, `${JSON.stringify(result, null, 2)}\n`);
  else if (opts.json) printJson(result);
}
