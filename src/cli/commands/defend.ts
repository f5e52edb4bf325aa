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
import type { Norm } from "../../attacks/types.js";
import { type DefenceEvaluation, defenceEvaluationMarkdown, evaluateDefence } from "../../audit/defence-evaluation.js";
import { bakePreprocessors } from "../../defenses/onnx-bake.js";
import {
  buildPostprocessors,
  buildPreprocessors,
  type DefenceSpec,
  defenceSpecHelp,
  formatDefenceSpec,
  parseDefenceSpecs,
  sha256File,
  sidecarPath,
  writeSidecar,
} from "../../defenses/specs.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel, saveModel } from "../../onnx/io.js";
import { gatherRows } from "../../tensor.js";
import {
  addDataOptions,
  addRuntimeOptions,
  info,
  interruptSignal,
  labelsOrFail,
  loadData,
  parseInteger,
  printJson,
  progressBar,
  runtimeOptions,
} from "../common.js";

export function defendCommand(): Command {
  const cmd = new Command("defend")
    .description("wrap a model in input/output defences: bake what ONNX can express, list the rest for run time, and evaluate it honestly")
    .requiredOption("--model <file>", "the undefended ONNX model")
    .option("--preprocess <specs>", `input defences, in order, e.g. squeeze:bits=4,smooth:window=3\n${defenceSpecHelp("preprocess")}`)
    .option("--postprocess <specs>", `output defences, in order, e.g. topk:k=1\n${defenceSpecHelp("postprocess")}`)
    .option("--out <file>", "where to write the defended ONNX model (and <name>.defence.json next to it)")
    .option("--clip <range>", 'valid input range "lo,hi"', "0,1")
    .option("--evaluate", "measure robust accuracy: non-adaptive vs adaptive attacks")
    .option("--data <spec>", "evaluation data: mnist, an .npz/.npy/CSV file or an image folder", "mnist")
    .option("--samples <n>", "evaluate on the first n samples", parseInteger("--samples", 1), 200)
    .option("--eps <list>", "comma-separated perturbation budgets", "0.1,0.2,0.3")
    .option("--norm <norm>", "inf or 2", "inf")
    .option("--max-iter <n>", "PGD iterations", parseInteger("--max-iter", 1), 40)
    .option("--eot <n>", "draws averaged per gradient for randomised preprocessors", parseInteger("--eot", 1), 10)
    .option("--no-autoattack", "skip AutoAttack (it dominates the evaluation time)")
    .option("--out-report <dir>", "write defence-evaluation.md and defence-evaluation.json there")
    .option("--batch-size <n>", "samples per model call", parseInteger("--batch-size", 1), 128)
    .option("--seed <s>", "seed of the randomised defences and the attacks", parseInteger("--seed", 0), 0)
    .option("--json [file]", "write the JSON result to a file, or print it on stdout");
  addDataOptions(cmd);
  addRuntimeOptions(cmd);
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
  const clipRange = parseClip(opts.clip);
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
    const labels = labelsOrFail(data, "an evaluation");
    const n = Math.min(opts.samples, data.x.shape[0]);
    const rows = Array.from({ length: n }, (_, i) => i);
    const x = gatherRows(data.x, rows);
    const y = labels.slice(0, n);
    const eps = parseEpsilons(opts.eps);
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

function parseClip(value: string): [number, number] {
  const [lo, hi] = value.split(",").map(Number);
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && lo! < hi!)) throw new AegisError("BAD_OPTION", `--clip must be "lo,hi" with lo < hi, not "${value}"`);
  return [lo!, hi!];
}

function parseEpsilons(value: string): number[] {
  const list = value.split(",").map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((e) => !Number.isFinite(e) || e < 0))
    throw new AegisError("BAD_OPTION", `--eps must be a comma-separated list of numbers ≥ 0, not "${value}"`);
  return list;
}
