import { existsSync, readFileSync } from "node:fs";
import { Command } from "commander";
import type { Capability } from "../../attacks/index.js";
import { ATTACKS, applicableAttacks, attackByName, attackParams, changedPositions, loadConstraintsFile } from "../../attacks/index.js";
import { randomTargets, runCurve } from "../../audit/index.js";
import { saveNpz } from "../../data/index.js";
import { requireLabels } from "../../data/labels.js";
import { capabilitiesOf, type Predictor } from "../../engine/capabilities.js";
import { HttpPredictor } from "../../engine/http.js";
import { summarizeModel } from "../../engine/inspect.js";
import type { RuntimeOptions } from "../../engine/runtime.js";
import { openClassifier, TokenClassifier } from "../../engine/token-classifier.js";
import { countCorrect } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/io.js";
import { gatherRows, sizeOf, type Tensor, tensor } from "../../tensor.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import { addDefenceOptions, openDefenceTarget } from "../defence-target.js";
import {
  paramPairs,
  paramValue,
  parseClip,
  parseEpsilons,
  parseInteger,
  parseNumber,
  runtimeOptions,
  withBatchSize,
  withData,
  withJson,
  withOut,
  withRuntime,
  withSamples,
  withSeed,
} from "../options.js";
import { addTargetOptions, learnTargetClasses, targetPredictor } from "../target.js";

/** CLI flags that map onto attack parameters of the same meaning (ART's names, camel-cased). */
const PARAM_FLAGS: Record<string, string> = {
  epsStep: "--eps-step",
  maxIter: "--max-iter",
  restarts: "--restarts",
  loss: "--loss",
  maxQueries: "--max-queries",
};

export function attackCommand(): Command {
  const cmd = new Command("attack")
    .description("run one evasion attack and report robust accuracy (over a list of ε for a curve)")
    .argument("[name]", "attack name (see --list)")
    .option("--list", "list the attacks (with --model: those that apply to it)")
    .option("--help-attack <name>", "an attack's parameters, defaults and paper")
    .option("--model <file>", "ONNX model (white-box and black-box attacks)");
  addDefenceOptions(cmd);
  withData(cmd, "the samples to attack", "mnist");
  withSamples(cmd, "attack the first n samples");
  cmd
    .option("--eps <list>", "perturbation budget, or a comma-separated list for a robustness curve")
    .option("--eps-step <s>", "step size", parseNumber("--eps-step"))
    .option("--max-iter <n>", "iterations", parseInteger("--max-iter", 1))
    .option("--norm <norm>", "inf, 2 or 1")
    .option("--targeted", "targeted attack (random target classes unless --target-class)")
    .option("--target-class <k>", "the class every sample is pushed to", parseInteger("--target-class", 0))
    .option("--restarts <n>", "random restarts", parseInteger("--restarts", 1))
    .option("--loss <loss>", "ce | margin | dlr")
    .option("--param <key=value...>", "any other attack parameter (see --help-attack), e.g. --param binarySearchSteps=9")
    .option("--clip <range>", 'valid input range "lo,hi" the attack stays in, or "none"', "0,1")
    .option("--constraints <file>", "tabular feature constraints (JSON: lower, upper, immutable, integer, one_hot)")
    .option("--vocab <file>", "token-id models: the vocabulary, one token per line (line n is id n), to show changed tokens as text");
  withBatchSize(cmd, 128);
  withSeed(cmd, "random starts and targets");
  withOut(cmd, "write the adversarial examples (.npz: x = first ε, adv_eps_<ε> for each, y)");
  withJson(cmd, "the report", true);
  withRuntime(cmd);
  addTargetOptions(cmd);
  return cmd.action(async (name: string | undefined, opts) => {
    if (opts.helpAttack) return printAttackHelp(opts.helpAttack);
    if (opts.list) return listAttacks(opts.model, Boolean(opts.target), runtimeOptions(opts));
    if (!name) throw new AegisError("BAD_OPTION", "name an attack (aegis attack --list shows them)");
    const attack = attackByName(name);
    if (!attack) throw new AegisError("BAD_OPTION", `unknown attack "${name}"; aegis attack --list shows the attacks`);
    if ([opts.model, opts.target, opts.defence].filter(Boolean).length !== 1)
      throw new AegisError("BAD_OPTION", "give one of --model FILE, --defence FILE or --target URL");
    const onnx = opts.model ? loadModel(opts.model) : undefined;
    const summary = onnx ? await summarizeModel(onnx, runtimeOptions(opts)) : undefined;
    const model: (Predictor & { release?(): Promise<void> }) | undefined = opts.defence
      ? (await openDefenceTarget(opts)).model
      : onnx
        ? await openClassifier(onnx, { ...runtimeOptions(opts), batchSize: opts.batchSize, clipRange: parseClip("--clip", opts.clip) })
        : undefined;

    const data = loadData(opts.data, opts);
    const total = data.x.shape[0];
    const n = Math.min(opts.samples ?? total, total);
    let rows = Array.from({ length: n }, (_, i) => i);
    const allLabels = requireLabels(data, "an attack");
    const target = model ?? targetPredictor(opts, data.x.shape.slice(1), opts.batchSize);
    const missing = attack.needs.filter((c) => !capabilitiesOf(target, summary?.differentiable ?? true).has(c));
    if (missing.length > 0) {
      throw new AegisError(
        "UNSUPPORTED",
        `${attack.name} needs ${missing.join(" and ")}, which ${opts.target ? "an HTTP target" : "this model"} does not give; aegis attack --list shows the attacks that apply`,
      );
    }
    const params = attackParams(attack, attackSettings(opts), {
      batchSize: opts.batchSize,
      spelled: (key) => (PARAM_FLAGS[key] ? `${PARAM_FLAGS[key]} parameter` : `parameter "${key}"`),
    });
    if (opts.constraints) params.constraints = loadConstraintsFile(opts.constraints, sizeOf(data.x.shape.slice(1)));
    const epsilons = opts.eps === undefined ? [attack.defaults.eps] : parseEpsilons("--eps", opts.eps, true);
    let targets: number[] | undefined;
    // Attacks that are targeted by nature (JSMA, the patch) stay targeted unless told otherwise.
    if (opts.targeted || opts.targetClass !== undefined || attack.defaults.targeted) {
      if (target instanceof HttpPredictor) await learnTargetClasses(target, data.x);
      const k = target.numClasses;
      if (opts.targetClass !== undefined) {
        if (opts.targetClass >= k) throw new AegisError("LABEL_OUT_OF_RANGE", `--target-class ${opts.targetClass} is outside the model's classes 0..${k - 1}`);
        // Samples already of the target class have nothing to attack.
        rows = rows.filter((i) => allLabels[i] !== opts.targetClass);
        targets = rows.map(() => opts.targetClass);
      } else {
        targets = randomTargets(
          rows.map((i) => allLabels[i]),
          k,
          opts.seed,
        );
      }
    }
    const x = gatherRows(data.x, rows);
    const labels = rows.map((i) => allLabels[i]);
    const cleanOutput = await target.predict(x);
    const signal = interruptSignal();
    const curve = await runCurve(attack, target, x, labels, {
      epsilons,
      params,
      targets,
      cleanOutput,
      seed: opts.seed,
      signal,
      progress: (eps) => progressBar(`${attack.name} ε=${eps}`, rows.length),
      onRun: ({ eps, metrics: m, seconds }) =>
        info(
          `${attack.name} ε=${eps}: robust accuracy ${(m.robust_accuracy * 100).toFixed(1)}%, success ${(m.success_rate * 100).toFixed(1)}% in ${seconds.toFixed(1)} s`,
        ),
    });
    await model?.release?.();
    const points = curve.runs.map(({ eps, metrics: m, seconds }) => ({
      eps: eps !== null && Number.isFinite(eps) ? eps : null,
      robust_accuracy: m.robust_accuracy,
      success_rate: m.success_rate,
      perturbation: m.perturbation,
      queries: m.queries ?? null,
      seconds,
    }));
    const first = points[0];
    const report = {
      attack: attack.name,
      paper: attack.paper,
      target: opts.defence
        ? { model: opts.defence, adaptive: !opts.nonAdaptive }
        : opts.model
          ? { model: opts.model, ...(summary ? pick(summary, ["producer", "opsets", "parameters"]) : {}) }
          : { url: opts.target },
      data: data.name,
      params: {
        ...params,
        eps: epsilons.map((e) => (Number.isFinite(e) ? e : null)),
        targeted: targets !== undefined,
        target_class: opts.targetClass ?? null,
        seed: opts.seed,
      },
      samples: rows.length,
      clean_accuracy: countCorrect(cleanOutput, labels) / labels.length,
      robust_accuracy: first?.robust_accuracy ?? null,
      success_rate: first?.success_rate ?? null,
      perturbation: first?.perturbation ?? null,
      queries: first?.queries ?? null,
      seconds: points.reduce((a, c) => a + c.seconds, 0),
      curve: points,
      ...(model instanceof TokenClassifier && curve.runs.length > 0 ? { changed_tokens: tokenChanges(x, curve.runs[0].output.x, rows, opts.vocab) } : {}),
      interrupted: curve.interrupted,
    };
    if (opts.out && curve.runs.length > 0) {
      const adversarial: Record<string, Tensor> = { x: curve.runs[0].output.x };
      for (const run of curve.runs) adversarial[`adv_eps_${run.eps}`] = run.output.x;
      saveNpz(opts.out, { ...adversarial, y: tensor("int64", [labels.length], BigInt64Array.from(labels.map(BigInt))) });
      info(`wrote ${opts.out}`);
    }
    if (typeof opts.json === "string") writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    else if (opts.json) printJson(report);
    else {
      process.stdout.write(
        `${points.map((c) => `ε=${c.eps}: robust accuracy ${(c.robust_accuracy * 100).toFixed(1)}% (clean ${(report.clean_accuracy * 100).toFixed(1)}%)`).join("\n")}\n`,
      );
      if (report.changed_tokens) process.stdout.write(tokenChangesText(report.changed_tokens));
    }
    if (curve.interrupted) throw new AegisError("INTERRUPTED", "interrupted; the report covers the ε values that finished");
  });
}

/** The attack settings the flags give, by parameter name; --param values are read as numbers, booleans or ∞ where they look like one. */
function attackSettings(opts: Record<string, unknown>): Record<string, unknown> {
  const settings: Record<string, unknown> = { norm: opts.norm };
  for (const key of Object.keys(PARAM_FLAGS)) settings[key] = key === "maxQueries" && opts[key] !== undefined ? Number(opts[key]) : opts[key];
  for (const [key, raw] of paramPairs(opts.param as string[] | undefined, "aegis attack --help-attack NAME")) settings[key] = paramValue(raw);
  return settings;
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

/** One substituted token: where, and the ids (with their text when a vocabulary is given). */
interface TokenChange {
  position: number;
  from: number | string;
  to: number | string;
}

/** Per attacked sample (by its row in the data), the tokens the attack substituted. */
function tokenChanges(
  x: Tensor<"float32">,
  adversarial: Tensor<"float32">,
  rows: readonly number[],
  vocabPath: string | undefined,
): { sample: number; changes: TokenChange[] }[] {
  const vocab = vocabPath ? readVocabulary(vocabPath) : undefined;
  const word = (id: number) => (vocab?.[id] !== undefined ? vocab[id] : id);
  const [n, t] = x.shape;
  const out: { sample: number; changes: TokenChange[] }[] = [];
  for (let i = 0; i < n; i++) {
    const positions = changedPositions(x.data, adversarial.data, i, t);
    if (positions.length === 0) continue;
    out.push({ sample: rows[i], changes: positions.map((p) => ({ position: p, from: word(x.data[i * t + p]), to: word(adversarial.data[i * t + p]) })) });
  }
  return out;
}

function readVocabulary(path: string): string[] {
  if (!existsSync(path)) throw new AegisError("FILE_NOT_FOUND", `--vocab ${path} does not exist; give a text file with one token per line`);
  return readFileSync(path, "utf8").split(/\r?\n/);
}

function tokenChangesText(changes: { sample: number; changes: TokenChange[] }[], shown = 10): string {
  const lines = changes.slice(0, shown).map((c) => `  sample ${c.sample}: ${c.changes.map((k) => `[${k.position}] ${k.from} → ${k.to}`).join(", ")}`);
  const more = changes.length > shown ? [`  … ${changes.length - shown} more samples (--json lists all)`] : [];
  return `${["changed tokens (first ε):", ...lines, ...more].join("\n")}\n`;
}

function listAttacks(modelPath: string | undefined, httpTarget: boolean, runtime: RuntimeOptions): Promise<void> | void {
  if (modelPath) return summarizeModel(loadModel(modelPath), runtime).then((s) => printAttackList(new Set(s.capabilities)));
  printAttackList(httpTarget ? new Set(["predict"]) : undefined);
}

function printAttackList(caps: Set<Capability> | undefined): void {
  const usable = caps ? new Set(applicableAttacks(caps).map((a) => a.name)) : undefined;
  for (const a of ATTACKS) {
    const mark = usable ? (usable.has(a.name) ? "✓" : "✗") : " ";
    process.stdout.write(
      `${mark} ${a.name.padEnd(18)} ${a.title} [${a.norms.map((n: string) => `L${n === "inf" ? "∞" : n}`).join(" ")}] needs ${a.needs.join(", ")}\n`,
    );
  }
}

function printAttackHelp(name: string): void {
  const attack = attackByName(name);
  if (!attack) throw new AegisError("BAD_OPTION", `unknown attack "${name}"; aegis attack --list shows the attacks`);
  const lines = [
    `${attack.name}: ${attack.title}`,
    `paper: ${attack.paper}`,
    `norms: ${attack.norms.join(", ")}`,
    `needs: ${attack.needs.join(", ")}`,
    "parameters:",
  ];
  const defaults = attack.defaults as unknown as Record<string, unknown>;
  for (const [key, text] of Object.entries(attack.help))
    lines.push(
      `  ${key.padEnd(12)} ${String(text)}${key in defaults ? ` (default ${defaults[key] === Number.POSITIVE_INFINITY ? "∞" : JSON.stringify(defaults[key])})` : ""}`,
    );
  process.stdout.write(`${lines.join("\n")}\n`);
}
