/**
 * `aegis extract ATTACK`: steal a model as an attacker would, through its predict interface
 * only, within a query budget, and report what the copy is worth (accuracy, fidelity, the
 * transfer of adversarial examples) against the queries spent.
 */
import { Command } from "commander";
import {
  dfme,
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
import {
  answeringThrough,
  auditExtractionDefences,
  type ExtractionAttackCase,
  type ExtractionDefenceReport,
  extractionDefenceFindings,
  fitGuardDetectors,
  guardRouteDetectors,
  renderExtractionDefencesHtml,
  renderExtractionDefencesMarkdown,
} from "../../audit/index.js";
import { createRng, isBuiltInDataset } from "../../data/index.js";
import { requireLabels } from "../../data/labels.js";
import { buildPostprocessors, defenceSpecHelp, parseDefenceSpecs } from "../../defenses/index.js";
import { ARCHITECTURES, type Architecture, OnnxClassifier, type Predictor } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadGuardConfig } from "../../gateway/index.js";
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
import { addTargetOptions, targetWithClasses } from "../target.js";

export function extractCommand(): Command {
  const cmd = new Command("extract")
    .description("steal a model through its predictions within a query budget; report the copy's accuracy, fidelity and transfer")
    .argument("[attack]", "extraction attack (see --list); with --defences a comma-separated list, each NAME or NAME:key=value[:key=value]")
    .option("--list", "list the extraction attacks")
    .option(
      "--defences",
      "audit which defences stop extraction: each attack at --budget through every --compare-outputs mode (the first attack) or the first (the others), its queries replayed through the guard's detectors, and a benign client's",
    )
    .option(
      "--compare-outputs <specs...>",
      "with --defences: the API output modes compared, each probabilities or an `aegis defend --postprocess` spec; the first is what the detectors watch",
    )
    .option("--guard-data <spec>", "with --defences: the owner's data the guard's detectors are fitted on (train split)", "mnist")
    .option("--guard-config <file>", "with --defences: measure the detectors one route of this guard.yaml runs instead of fitting them on --guard-data")
    .option("--route <name>", "with --guard-config: the route (default: the only one with query-stream detectors)")
    .option(
      "--benign-queries <n>",
      "with --defences: queries the benign client sends (the test data, then guard data the detectors were not fitted on)",
      parseInteger("--benign-queries", 1),
      5000,
    )
    .option("--help-attack <name>", "an attack's parameters, defaults and paper")
    .option("--model <file>", "the victim: a local ONNX model (queried through predict only)")
    .option("--budget <n>", "most queries (samples) the attack may send", parseInteger("--budget", 1))
    .option("--thief-data <spec>", 'the attacker\'s own unlabelled data (mnist, .npz, …), or "noise" for uniform noise in the input range')
    .option("--thief-split <split>", "split of a built-in thief dataset (train|test)", "test")
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
    if (opts.defences) return defencesAudit(name, opts);
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
    const thief = thiefData(attack, opts, opts.budget, inputShape, clipRange);
    if (opts.thiefLabels && !thief?.labels)
      throw new AegisError("BAD_OPTION", "--thief-labels uses the thief data's own labels, but it has none; drop it to cluster the data instead");
    const local = opts.model ? await OnnxClassifier.fromFile(opts.model, { ...runtimeOptions(opts), batchSize: opts.batchSize, clipRange }) : undefined;
    // The victim as its API answers: in the given input range, its probabilities through the --outputs postprocessors.
    const victim = answeringThrough(
      local ?? (await targetWithClasses(opts, testSet.x, opts.batchSize)),
      opts.outputs ? buildPostprocessors(parseDefenceSpecs(opts.outputs, "--outputs")) : [],
      clipRange,
    );

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

/**
 * The attack's defaults overridden by --param key=value, each checked against the parameter's
 * type; `shared` skips keys the attack does not have (one --param list for several attacks).
 */
function attackParams(attack: ExtractionAttack, pairs: readonly string[], shared = false): Record<string, unknown> {
  const params: Record<string, unknown> = { ...attack.defaults };
  for (const [key, raw] of paramPairs(pairs, `aegis extract --help-attack ${attack.name}`)) {
    if (shared && !(key in params)) continue;
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
  opts: { thiefData?: string; thiefSplit: string; data: string; split: string; xKey?: string; yKey?: string; seed: number },
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
  if (judgedOnThiefData(opts.thiefData, opts))
    info(
      `warning: the thief's data (${opts.thiefData}, ${opts.thiefSplit} split) are the samples the copy is judged on, so its accuracy and fidelity are optimistic; give thief data the judge does not use (for the built-in digits: --thief-data mnist-full --thief-split test)`,
    );
  const data = loadData(opts.thiefData, { xKey: opts.xKey, yKey: opts.yKey, split: opts.thiefSplit });
  if (sizeOf(data.x.shape.slice(1)) !== sizeOf(inputShape))
    throw new AegisError("SHAPE_MISMATCH", `--thief-data samples have shape [${data.x.shape.slice(1)}] but the test data's are [${inputShape}]`);
  return {
    name: opts.thiefData,
    x: float32([data.x.shape[0], ...inputShape], data.x.data),
    labels: data.y ? requireLabels(data, "--thief-labels") : undefined,
  };
}

/** The thief's data and --data name the same rows: the same file, or the same split of a built-in dataset. */
function judgedOnThiefData(thiefData: string, opts: { thiefSplit: string; data: string; split: string }): boolean {
  if (thiefData !== opts.data) return false;
  return !isBuiltInDataset(opts.data) || opts.thiefSplit === opts.split;
}

function printAttackHelp(name: string): void {
  const attack = extractionAttackByName(name);
  if (!attack) throw new AegisError("BAD_OPTION", `unknown extraction attack "${name}"; aegis extract --list shows them`);
  const lines = [`${attack.name}: ${attack.title}`, `paper: ${attack.paper}`, `data: ${attack.data}`, `outputs: ${attack.outputs.join(", ")}`, "parameters:"];
  for (const [key, text] of Object.entries(attack.help)) lines.push(`  ${key.padEnd(22)} ${String(text)} (default ${JSON.stringify(attack.defaults[key])})`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

/**
 * The attacks audited when --defences names none: every attack of natural data or none,
 * Knockoff both ways, and DFME with its batches made small enough for one iteration to fit
 * the budget.
 */
function auditedAttacks(budget: number): string {
  const d = dfme.defaults;
  const perSample = d.generatorSteps * (d.directions + 1) + d.studentSteps;
  const batch = Math.min(d.batchSize, Math.max(1, Math.floor(budget / perSample)));
  return `copycat,knockoff,knockoff:sampling=adaptive,jacobian,dfme${batch < d.batchSize ? `:batchSize=${batch}` : ""}`;
}
const COMPARED_OUTPUTS = ["probabilities", "topk:k=3", "labels", "round:decimals=2", "reverse-sigmoid"];

/** `aegis extract --defences`: what each output mode gives away, and when the guard's detectors notice each attack. */
// biome-ignore lint/suspicious/noExplicitAny: commander's parsed options, as the command's own action gets them
async function defencesAudit(names: string | undefined, opts: any): Promise<void> {
  if (Boolean(opts.model) === Boolean(opts.target)) throw new AegisError("BAD_OPTION", "give the victim as one of --model FILE or --target URL");
  if (opts.budget === undefined) throw new AegisError("BAD_OPTION", "give the query budget of every attack with --budget N");
  if (opts.outputs) throw new AegisError("BAD_OPTION", "--defences compares output modes itself; give them with --compare-outputs instead of --outputs");
  const clipRange = parseClip("--clip", opts.clip);
  const test = loadData(opts.data, opts);
  const samples = Math.min(opts.samples ?? test.x.shape[0], test.x.shape[0]);
  const testSet = { x: sliceRows(test.x, 0, samples), labels: requireLabels(test, "judging the stolen models").slice(0, samples) };
  const inputShape = test.x.shape.slice(1);
  const outputs = ((opts.compareOutputs as string[] | undefined) ?? COMPARED_OUTPUTS).map((spec) => ({
    name: spec,
    postprocessors: spec === "probabilities" ? [] : buildPostprocessors(parseDefenceSpecs(spec, "--compare-outputs")),
  }));
  const architecture = copyArchitecture(opts);
  const specs = parseAttackSpecs(names ?? auditedAttacks(opts.budget));
  // One copy of the thief data for every attack that needs it.
  const natural = specs.find((c) => c.attack.data === "natural");
  const thief = natural && thiefData(natural.attack, opts, opts.budget, inputShape, clipRange);
  const attacks: ExtractionAttackCase[] = specs.map(({ attack, params, label }, i) => ({
    label,
    attack,
    params: { ...attackParams(attack, opts.param ?? [], true), ...params },
    input: { thief: thief?.x, stolen: { ...architecture, seed: opts.seed, runtime: runtimeOptions(opts) } },
    everyOutput: i === 0,
  }));

  const local = opts.model ? await OnnxClassifier.fromFile(opts.model, { ...runtimeOptions(opts), batchSize: opts.batchSize, clipRange }) : undefined;
  const victim = answeringThrough(local ?? (await targetWithClasses(opts, testSet.x, opts.batchSize)), [], clipRange);
  const guard = opts.guardConfig ? await configuredGuard(opts, inputShape) : await fittedGuard(opts, inputShape);
  const benign = benignStream(testSet.x, guard.unseen, opts.benignQueries);
  if (benign.shape[0] < opts.benignQueries) info(`the benign client sends ${benign.shape[0]} queries: the test data and the guard data left over hold no more`);
  const bar = progressBar("extraction defences", opts.budget);
  let report: ExtractionDefenceReport;
  try {
    report = await auditExtractionDefences(victim, {
      attacks,
      outputs,
      budget: opts.budget,
      test: testSet,
      detectors: guard.detectors,
      benign,
      seed: opts.seed,
      signal: interruptSignal(),
      onQuery: (run, spent, budget) => bar.update(spent, run, budget),
    });
  } finally {
    bar.stop();
    await guard.release();
    await local?.release();
  }
  const where = opts.model ?? opts.target;
  const findings = extractionDefenceFindings(report, where);
  const full = { victim: where, ...report, findings };
  if (opts.report) {
    const written = writeReports(
      opts.report,
      parseFormats(opts.format, ["json", "md", "html", "sarif"]),
      {
        json: () => `${JSON.stringify(full, null, 2)}\n`,
        md: () => renderExtractionDefencesMarkdown(report, findings, where),
        html: () => renderExtractionDefencesHtml(report, findings, where),
        sarif: () => renderSarif(findings, { name: "aegis-extract", fullName: "Aegis model extraction", version: AEGIS_VERSION }),
      },
      { base: "extraction-defences" },
    );
    info(`wrote ${Object.values(written).join(", ")}`);
  }
  if (typeof opts.json === "string") writeFileAtomic(opts.json, `${JSON.stringify(full, null, 2)}\n`);
  else if (opts.json) printJson(full);
  else process.stdout.write(`${renderExtractionDefencesMarkdown(report, findings, where)}\n`);
}

/** "copycat,knockoff:sampling=adaptive" → the attacks, each with its own parameters and a label naming them. */
function parseAttackSpecs(text: string): { attack: ExtractionAttack; params: Record<string, unknown>; label: string }[] {
  return text
    .split(",")
    .map((token) => token.trim())
    .filter((token) => token !== "")
    .map((token) => {
      const [name, ...assignments] = token.split(":");
      const attack = extractionAttackByName(name);
      if (!attack) throw new AegisError("BAD_OPTION", `unknown extraction attack "${name}"; aegis extract --list shows them`);
      if (attack.data === "none" && attack.outputs.length === 1)
        throw new AegisError("BAD_OPTION", `${name} reads every score of a small tabular model; the defence audit compares output modes, leave it out`);
      const params = attackParams(attack, assignments);
      const keys = assignments.map((a) => a.split("=")[0]);
      return { attack, params: Object.fromEntries(keys.map((k) => [k, params[k]])), label: keys.length > 0 ? `${name} (${assignments.join(", ")})` : name };
    });
}

/** --guard-data as the model's input shape: the owner's data the guard's detectors are fitted on. */
function guardData(opts: { guardData: string; xKey?: string; yKey?: string }, inputShape: readonly number[]): Tensor<"float32"> {
  const data = loadData(opts.guardData, { xKey: opts.xKey, yKey: opts.yKey, split: "train" });
  if (sizeOf(data.x.shape.slice(1)) !== sizeOf(inputShape))
    throw new AegisError("SHAPE_MISMATCH", `--guard-data samples have shape [${data.x.shape.slice(1)}] but the test data's are [${inputShape}]`);
  return float32([data.x.shape[0], ...inputShape], data.x.data);
}

/** The detectors fitted on --guard-data; its rows left over are the benign client's. */
// biome-ignore lint/suspicious/noExplicitAny: commander's parsed options
async function fittedGuard(opts: any, inputShape: readonly number[]) {
  info("fitting the guard's detectors on --guard-data");
  return fitGuardDetectors(guardData(opts, inputShape), { model: opts.model ? loadModel(opts.model) : undefined, runtime: runtimeOptions(opts) });
}

/** The detectors a route of --guard-config runs; all of --guard-data is the benign client's, after the test data. */
// biome-ignore lint/suspicious/noExplicitAny: commander's parsed options
async function configuredGuard(opts: any, inputShape: readonly number[]) {
  const loaded = await guardRouteDetectors(loadGuardConfig(opts.guardConfig), { route: opts.route, modelPath: opts.model, runtime: runtimeOptions(opts) });
  info(`the detectors of route "${loaded.route}" in ${opts.guardConfig}`);
  return { ...loaded, unseen: guardData(opts, inputShape) };
}

/** The benign client: the test data, then unseen guard data, up to `count` queries. */
function benignStream(test: Tensor<"float32">, unseen: Tensor<"float32">, count: number): Tensor<"float32"> {
  const first = Math.min(count, test.shape[0]);
  const second = Math.min(count - first, unseen.shape[0]);
  const out = new Float32Array((first + second) * sizeOf(test.shape.slice(1)));
  out.set(sliceRows(test, 0, first).data);
  out.set(sliceRows(unseen, 0, second).data, sliceRows(test, 0, first).data.length);
  return float32([first + second, ...test.shape.slice(1)], out);
}
