/**
 * `aegis extract ATTACK`: steal a model as an attacker would, through its predict interface
 * only, within a query budget, and report what the copy is worth (accuracy, fidelity, the
 * transfer of adversarial examples) against the queries spent.
 */
import { Command } from "commander";
import {
  EXTRACTION_ATTACKS,
  type ExtractionAttack,
  type ExtractionRun,
  extractionAttackByName,
  extractionFindings,
  renderExtractionHtml,
  renderExtractionMarkdown,
  runExtraction,
  TRANSFER_DEFAULTS,
} from "../../attacks/index.js";
import { createRng } from "../../data/index.js";
import { requireLabels } from "../../data/labels.js";
import { buildPostprocessors, defenceSpecHelp, type Postprocessor, parseDefenceSpecs } from "../../defenses/index.js";
import { ARCHITECTURES, type Architecture, OnnxClassifier, type Predictor, probabilitiesOf } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel, saveModel } from "../../onnx/io.js";
import type { Model } from "../../onnx/ir.js";
import { renderSarif } from "../../report/sarif.js";
import { parseFormats, writeReports } from "../../report/write.js";
import { float32, sizeOf, sliceRows, type Tensor } from "../../tensor.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import {
  paramPairs,
  paramValue,
  parseClip,
  parseInteger,
  parseNumber,
  runtimeOptions,
  withBatchSize,
  withData,
  withJson,
  withRuntime,
  withSamples,
  withSeed,
} from "../options.js";
import { addTargetOptions, targetPredictor } from "../target.js";

export function extractCommand(): Command {
  const cmd = new Command("extract")
    .description("steal a model through its predictions within a query budget; report the copy's accuracy, fidelity and transfer")
    .argument("[attack]", "extraction attack (see --list)")
    .option("--list", "list the extraction attacks")
    .option("--help-attack <name>", "an attack's parameters, defaults and paper")
    .option("--model <file>", "the victim: a local ONNX model (queried through predict only)")
    .option("--budget <n>", "most queries (samples) the attack may send", parseInteger("--budget", 1))
    .option("--thief-data <spec>", 'the attacker\'s own unlabelled data (mnist, .npz, …), or "noise" for uniform noise in the input range')
    .option("--thief-split <split>", "split of a built-in thief dataset (train|test)", "train")
    .option("--thief-labels", "knockoff adaptive: use the thief data's own labels as the bandit's actions (default: k-means clusters)")
    .option("--arch <arch>", `the copy's architecture: ${ARCHITECTURES.join(", ")}, or "like" (the victim's own, re-initialised)`)
    .option("--like <file>", "with --target: the ONNX graph whose architecture the copy takes (--arch like)")
    .option(
      "--outputs <specs>",
      `what the victim's API shows of its scores, as \`aegis defend --postprocess\` specs (default: probabilities)\n${defenceSpecHelp("postprocess")}`,
    )
    .option("--checkpoints <list>", "query counts at which to measure the copy too, e.g. 1000,2000 (the curve)")
    .option("--param <key=value...>", "any attack parameter (see --help-attack), e.g. --param epochs=10 sampling=adaptive")
    .option(
      "--transfer-eps <eps>",
      "L∞ ε of the FGSM examples crafted on the copy and replayed on the victim",
      parseNumber("--transfer-eps"),
      TRANSFER_DEFAULTS.eps,
    )
    .option(
      "--transfer-samples <n>",
      "test samples the transfer rate is measured on (0 to skip)",
      parseInteger("--transfer-samples", 0),
      TRANSFER_DEFAULTS.samples,
    )
    .option("--clip <range>", 'the victim\'s valid input range "lo,hi"', "0,1")
    .option("--out <file>", "write the stolen model (ONNX) here")
    .option("--query-log <file>", "write the query log (JSON: queries and running total per call, ms since start)")
    .option("--report <dir>", "write the report there, in --format formats")
    .option("--format <list>", "report formats: json, md, html, sarif", "html,md,json");
  withData(cmd, "labelled test data the copy is judged on (mnist: its 2,000-sample test split)", "mnist");
  withSamples(cmd, "judge the copy on the first n test samples");
  withBatchSize(cmd, 256, "samples per victim call");
  withSeed(cmd, "the copy's weights, the sampling and the noise");
  withJson(cmd, "the report", true);
  withRuntime(cmd);
  addTargetOptions(cmd);
  return cmd.action(async (name: string | undefined, opts) => {
    if (opts.helpAttack) return printAttackHelp(opts.helpAttack);
    if (opts.list) {
      for (const a of EXTRACTION_ATTACKS)
        process.stdout.write(`${a.name.padEnd(24)} ${a.title}; data: ${a.data === "none" ? "none needed" : "natural"}; outputs: ${a.outputs.join(", ")}\n`);
      return;
    }
    if (!name) throw new AegisError("BAD_OPTION", "name an extraction attack (aegis extract --list shows them)");
    const attack = extractionAttackByName(name);
    if (!attack) throw new AegisError("BAD_OPTION", `unknown extraction attack "${name}"; aegis extract --list shows them`);
    if (Boolean(opts.model) === Boolean(opts.target)) throw new AegisError("BAD_OPTION", "give the victim as one of --model FILE or --target URL");
    if (opts.budget === undefined) throw new AegisError("BAD_OPTION", "give the query budget with --budget N");
    const clipRange = parseClip("--clip", opts.clip);

    const test = loadData(opts.data, opts);
    const samples = Math.min(opts.samples ?? test.x.shape[0], test.x.shape[0]);
    const testSet = { x: sliceRows(test.x, 0, samples), labels: requireLabels(test, "judging the stolen model").slice(0, samples) };
    const inputShape = test.x.shape.slice(1);
    const local = opts.model ? await OnnxClassifier.fromFile(opts.model, { ...runtimeOptions(opts), batchSize: opts.batchSize, clipRange }) : undefined;
    const victim = deployed(
      local ?? targetPredictor(opts, inputShape, opts.batchSize),
      clipRange,
      opts.outputs ? buildPostprocessors(parseDefenceSpecs(opts.outputs, "--outputs")) : [],
    );

    const thief = thiefData(attack, opts, opts.budget, inputShape, clipRange);
    if (opts.thiefLabels && !thief?.labels)
      throw new AegisError("BAD_OPTION", "--thief-labels uses the thief data's own labels, but it has none; drop it to cluster the data instead");
    const run = await runWithProgress(attack, victim, {
      ...opts,
      thief: thief?.x,
      thiefLabels: opts.thiefLabels ? thief?.labels : undefined,
      architecture: copyArchitecture(opts),
      testSet,
    });
    await local?.release();

    const target = { victim: opts.model ?? opts.target, outputs: opts.outputs };
    const findings = extractionFindings(run.report, target);
    const report = { ...run.report, victim: target.victim, outputs: opts.outputs ?? null, thief: thief?.name ?? null, stolenModel: opts.out ?? null, findings };
    if (opts.out) {
      saveModel(opts.out, run.result.stolen.exportModel());
      info(`wrote ${opts.out}`);
    }
    await run.result.stolen.release();
    if (opts.queryLog) writeFileAtomic(opts.queryLog, `${JSON.stringify({ budget: opts.budget, spent: run.report.queries, calls: run.log }, null, 2)}\n`);
    if (opts.report) {
      const written = writeReports(
        opts.report,
        parseFormats(opts.format, ["json", "md", "html", "sarif"]),
        {
          json: () => `${JSON.stringify(report, null, 2)}\n`,
          md: () => renderExtractionMarkdown(run.report, findings, target),
          html: () => renderExtractionHtml(run.report, findings, target),
          sarif: () => renderSarif(findings, { name: "aegis-extract", fullName: "Aegis model extraction", version: AEGIS_VERSION }),
        },
        { base: "extraction" },
      );
      info(`wrote ${Object.values(written).join(", ")}`);
    }
    if (typeof opts.json === "string") writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    else if (opts.json) printJson(report);
    else {
      const r = run.report;
      const pct = (v: number | undefined) => (v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
      process.stdout.write(
        `${r.title}: ${r.queries} queries (${r.output}) → fidelity ${pct(r.fidelity)}, accuracy ${pct(r.accuracy)} (victim ${pct(r.victimAccuracy)})${r.transfer ? `, FGSM transfer ${pct(r.transfer.rate)}` : ""}\n`,
      );
    }
  });
}

interface RunOptions {
  budget: number;
  seed: number;
  param?: string[];
  checkpoints?: string;
  transferEps: number;
  transferSamples: number;
  queryLog?: string;
  thief?: Tensor<"float32">;
  thiefLabels?: number[];
  architecture: { architecture: Architecture | "like"; victimModel?: Model };
  testSet: { x: Tensor<"float32">; labels: number[] };
  threads?: number;
  device?: string;
}

async function runWithProgress(attack: ExtractionAttack, victim: Predictor, opts: RunOptions): Promise<ExtractionRun> {
  const bar = progressBar(`${attack.name} queries`, opts.budget);
  let spent = 0;
  try {
    return await runExtraction(
      attack,
      victim,
      { thief: opts.thief, thiefLabels: opts.thiefLabels, stolen: { ...opts.architecture, seed: opts.seed, runtime: runtimeOptions(opts) } },
      attackParams(attack, opts.param ?? []),
      {
        budget: opts.budget,
        test: opts.testSet,
        checkpoints: opts.checkpoints ? parseCheckpoints(opts.checkpoints) : undefined,
        transfer: opts.transferSamples > 0 ? { eps: opts.transferEps, samples: opts.transferSamples } : false,
        seed: opts.seed,
        signal: interruptSignal(),
        onQuery: (queries) => {
          spent = queries;
          bar.update(spent);
        },
        onStatus: (message) => bar.update(spent, message),
      },
    );
  } finally {
    bar.stop();
  }
}

/** The attack's defaults overridden by --param key=value, each checked against the parameter's type. */
function attackParams(attack: ExtractionAttack, pairs: readonly string[]): Record<string, unknown> {
  const params: Record<string, unknown> = { ...attack.defaults };
  for (const [key, raw] of paramPairs(pairs, `aegis extract --help-attack ${attack.name}`)) {
    if (!(key in params))
      throw new AegisError("BAD_OPTION", `--param ${key}: ${attack.name} has no such parameter (aegis extract --help-attack ${attack.name} lists them)`);
    const value = paramValue(raw);
    if (typeof params[key] === "number" && typeof value !== "number") throw new AegisError("BAD_OPTION", `--param ${key} must be a number, not "${raw}"`);
    params[key] = typeof params[key] === "number" ? value : raw;
  }
  return params;
}

function parseCheckpoints(value: string): number[] {
  return value.split(",").map((s) => parseInteger("--checkpoints", 1)(s.trim()));
}

/** --arch, "like" by default for a local victim (the attacker who knows the architecture), cnn for an endpoint. */
function copyArchitecture(opts: { arch?: string; model?: string; like?: string }): { architecture: Architecture | "like"; victimModel?: Model } {
  const architecture = opts.arch ?? (opts.model || opts.like ? "like" : "cnn");
  if (architecture === "like") {
    const file = opts.like ?? opts.model;
    if (!file) throw new AegisError("BAD_OPTION", "--arch like copies the victim's architecture; against --target give its graph with --like FILE");
    return { architecture, victimModel: loadModel(file) };
  }
  if (!(ARCHITECTURES as readonly string[]).includes(architecture))
    throw new AegisError("BAD_OPTION", `--arch must be ${ARCHITECTURES.join(", ")} or like, not "${architecture}"`);
  return { architecture: architecture as Architecture };
}

/** --thief-data: a dataset (its first `budget` rows are what a budget can use), or uniform noise in the input range. */
function thiefData(
  attack: ExtractionAttack,
  opts: { thiefData?: string; thiefSplit: string; xKey?: string; yKey?: string; seed: number },
  budget: number,
  inputShape: readonly number[],
  [lo, hi]: readonly [number, number],
): { name: string; x: Tensor<"float32">; labels?: number[] } | undefined {
  if (!opts.thiefData) {
    if (attack.data === "natural")
      throw new AegisError("BAD_OPTION", `${attack.name} labels the attacker's own data with the victim; give it with --thief-data (or "noise")`);
    return undefined;
  }
  if (opts.thiefData === "noise") {
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) throw new AegisError("BAD_OPTION", 'noise as thief data needs a bounded --clip "lo,hi"');
    const rng = createRng(opts.seed + 1);
    const size = budget * sizeOf(inputShape);
    return {
      name: "noise",
      x: float32(
        [budget, ...inputShape],
        Float32Array.from({ length: size }, () => lo + rng.next() * (hi - lo)),
      ),
    };
  }
  const data = loadData(opts.thiefData, { xKey: opts.xKey, yKey: opts.yKey, split: opts.thiefSplit });
  if (sizeOf(data.x.shape.slice(1)) !== sizeOf(inputShape))
    throw new AegisError("SHAPE_MISMATCH", `--thief-data samples have shape [${data.x.shape.slice(1)}] but the test data's are [${inputShape}]`);
  return {
    name: opts.thiefData,
    x: float32([data.x.shape[0], ...inputShape], data.x.data),
    labels: data.y ? requireLabels(data, "--thief-labels") : undefined,
  };
}

/** The victim as its API answers: in the given input range, its probabilities through the --outputs postprocessors. */
function deployed(model: Predictor, clipRange: readonly [number, number], outputs: readonly Postprocessor[]): Predictor {
  return {
    inputShape: model.inputShape,
    numClasses: model.numClasses,
    clipRange,
    outputKind: outputs.length > 0 ? "probs" : model.outputKind,
    predict: async (x) => {
      const out = await model.predict(x);
      return outputs.length > 0 ? outputs.reduce((scores, p) => p.apply(scores), probabilitiesOf(model, out)) : out;
    },
  };
}

function printAttackHelp(name: string): void {
  const attack = extractionAttackByName(name);
  if (!attack) throw new AegisError("BAD_OPTION", `unknown extraction attack "${name}"; aegis extract --list shows them`);
  const lines = [`${attack.name}: ${attack.title}`, `paper: ${attack.paper}`, `data: ${attack.data}`, `outputs: ${attack.outputs.join(", ")}`, "parameters:"];
  for (const [key, text] of Object.entries(attack.help)) lines.push(`  ${key.padEnd(22)} ${String(text)} (default ${JSON.stringify(attack.defaults[key])})`);
  process.stdout.write(`${lines.join("\n")}\n`);
}
