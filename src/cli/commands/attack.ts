import { Command } from "commander";
import { ATTACKS, applicableAttacks, attackByName, loadConstraintsFile } from "../../attacks/index.js";
import { attackMetrics } from "../../attacks/metrics.js";
import type { Capability, CommonParams } from "../../attacks/types.js";
import { saveNpz } from "../../data/index.js";
import { createRng } from "../../data/random.js";
import type { Predictor } from "../../engine/capabilities.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { summarizeModel } from "../../engine/inspect.js";
import { countCorrect } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/io.js";
import { gatherRows, sizeOf, type Tensor, tensor } from "../../tensor.js";
import {
  addDataOptions,
  addRuntimeOptions,
  info,
  interruptSignal,
  labelsOrFail,
  loadData,
  parseInteger,
  parseNumber,
  printJson,
  progressBar,
  runtimeOptions,
} from "../common.js";
import { addDefenceOptions, openDefenceTarget } from "../defence-target.js";
import { addTargetOptions, targetPredictor } from "../target.js";

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
  addDefenceOptions(cmd)
    .option("--data <spec>", "mnist, an .npz/.npy/CSV file or an image folder", "mnist")
    .option("--samples <n>", "attack the first n samples", parseInteger("--samples", 1))
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
    .option("--batch-size <n>", "samples per model call", parseInteger("--batch-size", 1), 128)
    .option("--seed <s>", "seed of random starts and targets", parseInteger("--seed", 0), 0)
    .option("--out <file>", "write the adversarial examples (.npz: x = first ε, adv_eps_<ε> for each, y)")
    .option("--json [file]", "write the JSON report to a file, or print it on stdout");
  addDataOptions(cmd);
  addRuntimeOptions(cmd);
  addTargetOptions(cmd);
  return cmd.action(async (name: string | undefined, opts) => {
    if (opts.helpAttack) return printAttackHelp(opts.helpAttack);
    if (opts.list) return listAttacks(opts.model, Boolean(opts.target));
    if (!name) throw new AegisError("BAD_OPTION", "name an attack (aegis attack --list shows them)");
    const attack = attackByName(name);
    if (!attack) throw new AegisError("BAD_OPTION", `unknown attack "${name}"; aegis attack --list shows the attacks`);
    if ([opts.model, opts.target, opts.defence].filter(Boolean).length !== 1)
      throw new AegisError("BAD_OPTION", "give one of --model FILE, --defence FILE or --target URL");
    const model: (Predictor & { release?(): Promise<void> }) | undefined = opts.defence
      ? (await openDefenceTarget(opts)).model
      : opts.model
        ? await OnnxClassifier.fromFile(opts.model, { ...runtimeOptions(opts), batchSize: opts.batchSize, clipRange: parseClip(opts.clip) })
        : undefined;

    const data = loadData(opts.data, opts);
    const total = data.x.shape[0];
    const n = Math.min(opts.samples ?? total, total);
    let rows = Array.from({ length: n }, (_, i) => i);
    const allLabels = labelsOrFail(data, "an attack");
    const target = model ?? targetPredictor(opts, data.x.shape.slice(1), opts.batchSize);
    const capabilities = capabilitiesOf(target);
    const missing = attack.needs.filter((c) => !capabilities.has(c));
    if (missing.length > 0) {
      throw new AegisError(
        "UNSUPPORTED",
        `${attack.name} needs ${missing.join(" and ")}, which ${opts.target ? "an HTTP target" : "this model"} does not give; aegis attack --list shows the attacks that apply`,
      );
    }
    const params = buildParams(attack.defaults, attack.name, opts);
    if (opts.constraints) params.constraints = loadConstraintsFile(opts.constraints, sizeOf(data.x.shape.slice(1)));
    const epsilons = parseEpsilons(opts.eps, attack.defaults.eps);
    const rng = createRng(opts.seed);
    let targets: number[] | undefined;
    // Attacks that are targeted by nature (JSMA, the patch) stay targeted unless told otherwise.
    if (opts.targeted || opts.targetClass !== undefined || attack.defaults.targeted) {
      const k = target.numClasses;
      if (opts.targetClass !== undefined) {
        if (opts.targetClass >= k) throw new AegisError("LABEL_OUT_OF_RANGE", `--target-class ${opts.targetClass} is outside the model's classes 0..${k - 1}`);
        // Samples already of the target class have nothing to attack.
        rows = rows.filter((i) => allLabels[i] !== opts.targetClass);
        targets = rows.map(() => opts.targetClass);
      } else {
        targets = rows.map((i) => (allLabels[i] + 1 + rng.int(k - 1)) % k);
      }
    }
    const x = gatherRows(data.x, rows);
    const labels = rows.map((i) => allLabels[i]);
    const cleanOutput = await target.predict(x);
    const signal = interruptSignal();
    const curve = [];
    const adversarial: Record<string, Tensor> = {};
    for (const eps of epsilons) {
      if (signal.aborted) break;
      const started = performance.now();
      const bar = progressBar(`${attack.name} ε=${eps}`, rows.length);
      const out = await attack.run(
        target,
        x,
        targets ?? labels,
        { ...params, eps, targeted: targets !== undefined },
        { rng, signal, onProgress: (done, total) => bar.update(done, "", total) },
      );
      bar.stop();
      const m = await attackMetrics(target, x, out.x, labels, { targets, queries: out.queries, cleanOutput });
      const seconds = (performance.now() - started) / 1000;
      curve.push({
        eps: Number.isFinite(eps) ? eps : null,
        robust_accuracy: m.robust_accuracy,
        success_rate: m.success_rate,
        perturbation: m.perturbation,
        queries: m.queries ?? null,
        seconds,
      });
      info(
        `${attack.name} ε=${eps}: robust accuracy ${(m.robust_accuracy * 100).toFixed(1)}%, success ${(m.success_rate * 100).toFixed(1)}% in ${seconds.toFixed(1)} s`,
      );
      adversarial[`adv_eps_${eps}`] = out.x;
      if (curve.length === 1) adversarial.x = out.x;
    }
    await model?.release?.();
    const first = curve[0];
    const report = {
      attack: attack.name,
      paper: attack.paper,
      target: opts.defence
        ? { model: opts.defence, adaptive: !opts.nonAdaptive }
        : opts.model
          ? { model: opts.model, ...pick(summarizeModel(loadModel(opts.model)), ["producer", "opsets", "parameters"]) }
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
      seconds: curve.reduce((a, c) => a + c.seconds, 0),
      curve,
      interrupted: signal.aborted,
    };
    if (opts.out && first) {
      saveNpz(opts.out, { ...adversarial, y: tensor("int64", [labels.length], BigInt64Array.from(labels.map(BigInt))) });
      info(`wrote ${opts.out}`);
    }
    if (typeof opts.json === "string") writeFileAtomic(opts.json, `${JSON.stringify(report, null, 2)}\n`);
    else if (opts.json) printJson(report);
    else
      process.stdout.write(
        `${curve.map((c) => `ε=${c.eps}: robust accuracy ${(c.robust_accuracy * 100).toFixed(1)}% (clean ${(report.clean_accuracy * 100).toFixed(1)}%)`).join("\n")}\n`,
      );
    if (signal.aborted) throw new AegisError("INTERRUPTED", "interrupted; the report covers the ε values that finished");
  });
}

function pick<T extends object, K extends keyof T>(o: T, keys: K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, o[k]])) as Pick<T, K>;
}

function capabilitiesOf(model: object): Set<Capability> {
  const caps = new Set<Capability>(["predict"]);
  if (typeof (model as { lossGradient?: unknown }).lossGradient === "function") caps.add("lossGradient");
  if (typeof (model as { classGradient?: unknown }).classGradient === "function") caps.add("classGradient");
  return caps;
}

function listAttacks(modelPath: string | undefined, httpTarget: boolean): void {
  let caps: Set<Capability> | undefined;
  if (httpTarget) caps = new Set(["predict"]);
  else if (modelPath) caps = summarizeModel(loadModel(modelPath)).differentiable ? new Set(["predict", "lossGradient", "classGradient"]) : new Set(["predict"]);
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

function parseClip(value: string): [number, number] {
  if (value === "none") return [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
  const [lo, hi] = value.split(",").map(Number);
  if (!(lo < hi)) throw new AegisError("BAD_OPTION", `--clip must be "lo,hi" with lo < hi, or "none", not "${value}"`);
  return [lo, hi];
}

function parseEpsilons(value: string | undefined, fallback: number): number[] {
  if (value === undefined) return [fallback];
  const list = String(value)
    .split(",")
    .map((s) => (s.trim() === "inf" ? Number.POSITIVE_INFINITY : Number(s.trim())));
  if (list.length === 0 || list.some((e) => Number.isNaN(e) || e < 0))
    throw new AegisError("BAD_OPTION", `--eps must be a number ≥ 0 or a comma-separated list, not "${value}"`);
  return list;
}

/** The attack's defaults overridden by the flags the user gave; a flag the attack does not take is an error. */
function buildParams(defaults: CommonParams, name: string, opts: Record<string, unknown>): CommonParams & Record<string, unknown> {
  const params: CommonParams & Record<string, unknown> = { ...defaults, batchSize: opts.batchSize };
  const known = new Set(Object.keys(attackByName(name)?.help ?? {}));
  if (opts.norm !== undefined) {
    const norms = attackByName(name)?.norms ?? [];
    if (!norms.includes(opts.norm as never)) throw new AegisError("BAD_OPTION", `${name} supports --norm ${norms.join(", ")}, not ${opts.norm}`);
    params.norm = opts.norm as CommonParams["norm"];
  }
  for (const [key, flag] of Object.entries(PARAM_FLAGS)) {
    if (opts[key] === undefined) continue;
    if (!known.has(key)) throw new AegisError("BAD_OPTION", `${name} has no ${flag} parameter (aegis attack --help-attack ${name})`);
    params[key] = key === "maxQueries" ? Number(opts[key]) : opts[key];
  }
  for (const pair of (opts.param as string[] | undefined) ?? []) {
    const eq = pair.indexOf("=");
    const key = pair.slice(0, eq);
    if (eq <= 0 || !known.has(key))
      throw new AegisError("BAD_OPTION", `--param ${pair}: ${name} has no parameter "${key}" (aegis attack --help-attack ${name})`);
    const raw = pair.slice(eq + 1);
    params[key] =
      raw === "true"
        ? true
        : raw === "false"
          ? false
          : raw === "inf"
            ? Number.POSITIVE_INFINITY
            : Number.isFinite(Number(raw)) && raw !== ""
              ? Number(raw)
              : raw;
  }
  if (params.loss !== undefined && !["ce", "margin", "dlr"].includes(String(params.loss)))
    throw new AegisError("BAD_OPTION", `--loss must be ce, margin or dlr, not "${params.loss}"`);
  return params;
}
