/**
 * The options several commands share, each declared once here, so a flag means the same
 * thing, parses the same way and is described the same way everywhere: data, sampling,
 * seed, batch size, threads and device, ε lists, clip range, --json and --out. A command
 * says what the option is for in its case (training data, evaluation data…).
 */
import { type Command, Option } from "commander";
import type { RuntimeOptions } from "../engine/runtime.js";
import { AegisError } from "../errors.js";
import type { ReportFormat } from "../report/write.js";

export function parseInteger(flag: string, min: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new AegisError("BAD_OPTION", `${flag} must be an integer ≥ ${min}, not "${value}"`);
    return n;
  };
}

export function parseNumber(flag: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n)) throw new AegisError("BAD_OPTION", `${flag} must be a number, not "${value}"`);
    return n;
  };
}

/** `--param key=value…` as [key, raw value] pairs; `lists` names the command that lists the keys. */
export function paramPairs(pairs: readonly string[] | undefined, lists: string): [string, string][] {
  return (pairs ?? []).map((pair) => {
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new AegisError("BAD_OPTION", `--param ${pair}: write it as key=value (${lists} lists the keys)`);
    return [pair.slice(0, eq), pair.slice(eq + 1)];
  });
}

/** A --param value as a number, boolean or ∞ where it looks like one, else the text as given. */
export function paramValue(raw: string): unknown {
  if (raw === "true" || raw === "false") return raw === "true";
  if (raw === "inf") return Number.POSITIVE_INFINITY;
  return raw !== "" && Number.isFinite(Number(raw)) ? Number(raw) : raw;
}

const DATA_FORMS = "mnist, an .npz/.npy/CSV file or an image folder";

/**
 * --data (with --x-key, --y-key and, unless the command picks the split itself, --split):
 * `role` says what the data is for, e.g. "evaluation data (mnist: its 2,000-sample test
 * split)". Without a default the option is required.
 */
export function withData(cmd: Command, role: string, fallback?: string, options: { split?: false | "train" | "test" } = {}): Command {
  const help = `${role}: ${DATA_FORMS}`;
  (fallback === undefined ? cmd.requiredOption("--data <spec>", help) : cmd.option("--data <spec>", help, fallback))
    .option("--x-key <key>", "array of inputs in an .npz file", "x")
    .option("--y-key <key>", "array of labels in an .npz file", "y");
  if (options.split !== false) cmd.option("--split <split>", "split of a built-in dataset (train|test)", options.split ?? "test");
  return cmd;
}

export function withSamples(cmd: Command, help = "use the first n samples", fallback?: number): Command {
  return cmd.option("--samples <n>", help, parseInteger("--samples", 1), fallback);
}

/** --seed, 0 unless `fallback` says otherwise (null: no default, e.g. where a config file has its own). */
export function withSeed(cmd: Command, what: string, fallback: number | null = 0): Command {
  return cmd.option("--seed <s>", `seed of ${what}`, parseInteger("--seed", 0), fallback ?? undefined);
}

export function withBatchSize(cmd: Command, fallback: number | undefined, help = "samples per model call"): Command {
  return cmd.option("--batch-size <n>", help, parseInteger("--batch-size", 1), fallback);
}

/** --threads and --device, for every command that runs a model. */
export function withRuntime(cmd: Command): Command {
  return cmd
    .option("--threads <n>", "intra-op threads for ONNX Runtime (0 = one per core)", parseInteger("--threads", 0), 0)
    .option("--device <device>", "cpu or cuda (CUDA needs onnxruntime-node's CUDA provider)", "cpu");
}

export function runtimeOptions(opts: { threads?: number; device?: string }): RuntimeOptions {
  if (opts.device !== undefined && opts.device !== "cpu" && opts.device !== "cuda") {
    throw new AegisError("BAD_OPTION", `--device must be cpu or cuda, not "${opts.device}"`);
  }
  return { threads: opts.threads ?? 0, device: (opts.device ?? "cpu") as "cpu" | "cuda" };
}

/** --json: machine output on stdout; with `toFile`, --json FILE writes it to a file instead. */
export function jsonOption(what: string, toFile = false): Option {
  return toFile
    ? new Option("--json [file]", `write ${what} as JSON to a file, or print it on stdout`)
    : new Option("--json", `print ${what} as JSON on stdout`);
}

export function withJson(cmd: Command, what: string, toFile = false): Command {
  return cmd.addOption(jsonOption(what, toFile));
}

/** --out: what the command writes there; required unless it has a default. */
export function outOption(what: string, fallback?: string, required = false): Option {
  const option = new Option("--out <path>", what);
  if (fallback !== undefined) option.default(fallback);
  return required ? option.makeOptionMandatory() : option;
}

export function withOut(cmd: Command, what: string, fallback?: string, required = false): Command {
  return cmd.addOption(outOption(what, fallback, required));
}

/** A comma-separated ε list (`inf` allowed where an attack takes no limit). */
export function parseEpsilons(flag: string, value: string, allowInfinity = false): number[] {
  const list = String(value)
    .split(",")
    .map((s) => (allowInfinity && s.trim() === "inf" ? Number.POSITIVE_INFINITY : Number(s.trim())));
  if (list.length === 0 || list.some((e) => Number.isNaN(e) || e < 0 || (!allowInfinity && !Number.isFinite(e))))
    throw new AegisError("BAD_OPTION", `${flag} must be a number ≥ 0 or a comma-separated list of them, not "${value}"`);
  return list;
}

/** --clip "lo,hi", or "none" for an unbounded input range. */
export function parseClip(flag: string, value: string, allowNone = true): [number, number] {
  if (allowNone && value === "none") return [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
  const parts = value.split(",").map((s) => Number(s.trim()));
  const [lo, hi] = parts;
  if (parts.length !== 2 || !(lo < hi))
    throw new AegisError("BAD_OPTION", `${flag} must be "lo,hi" with lo < hi${allowNone ? ', or "none"' : ""}, not "${value}"`);
  return [lo, hi];
}

/** An older spelling of a flag, kept working but not shown in --help; read it with `aliased`. */
export function withAlias(cmd: Command, alias: string, canonical: string, parse?: (value: string) => unknown): Command {
  const option = new Option(`${alias} <value>`, `same as ${canonical}`).hideHelp();
  if (parse) option.argParser(parse);
  return cmd.addOption(option);
}

/** The value of a flag given under its name or its alias (the name's default otherwise); both at once is a mistake. */
export function aliased<T>(cmd: Command, key: string, aliasKey: string): T | undefined {
  const opts = cmd.opts();
  if (opts[aliasKey] === undefined) return opts[key] as T | undefined;
  if (cmd.getOptionValueSource(key) === "cli")
    throw new AegisError("BAD_OPTION", `--${kebab(key)} and --${kebab(aliasKey)} are one option under two names; give one`);
  return opts[aliasKey] as T;
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** --format: which of the report formats a command writes (report/write.ts), default `defaults`. */
export function withFormat(cmd: Command, allowed: readonly ReportFormat[], defaults: readonly ReportFormat[]): Command {
  return cmd.option(
    "--format <list>",
    `reports to write, comma-separated: ${allowed.join(", ")} (SARIF for code-scanning UIs, JUnit for CI test views)`,
    defaults.join(","),
  );
}

/** DP-SGD's flags (aegis train, aegis harden): --dp with σ or a target ε, C, δ and the accountant. */
export function withDp(cmd: Command): Command {
  cmd.option("--dp", "train with DP-SGD (Abadi et al. 2016): Poisson-sampled batches, per-example clipping, Gaussian noise; the model records its (ε, δ)");
  return withDpSettings(cmd).option(
    "--noise-seed <s>",
    "DP-SGD: seed noise and sampling for a reproducible run (tests only: anyone with the seed can remove the noise)",
    parseInteger("--noise-seed", 0),
  );
}

/** DP-SGD's σ (or target ε), C, δ and accountant: withDp's flags without --dp, for commands that always train privately (aegis privacy audit). */
export function withDpSettings(cmd: Command): Command {
  return cmd
    .option("--noise-multiplier <sigma>", "DP-SGD: noise standard deviation σ in units of --max-grad-norm", parseNumber("--noise-multiplier"))
    .option("--target-epsilon <eps>", "DP-SGD: solve for the σ that spends this ε over the whole run", parseNumber("--target-epsilon"))
    .option("--max-grad-norm <C>", "DP-SGD: clip each example's gradient to this L2 norm", parseNumber("--max-grad-norm"), 1)
    .option("--delta <delta>", "DP-SGD: δ of the (ε, δ) guarantee; must be below 1/n", parseNumber("--delta"), 1e-5)
    .option("--accountant <name>", "DP-SGD: rdp (Mironov et al.) or prv (Gopi et al., tighter)", "rdp");
}

/** The DP-SGD settings of withDp's flags, or undefined without --dp (DP flags without it are a mistake). */
export function dpOptions(opts: {
  dp?: boolean;
  noiseMultiplier?: number;
  targetEpsilon?: number;
  maxGradNorm: number;
  delta: number;
  accountant: string;
  noiseSeed?: number;
}): { noiseMultiplier?: number; targetEpsilon?: number; maxGradNorm: number; delta: number; accountant: "rdp" | "prv"; noiseSeed?: number } | undefined {
  if (!opts.dp) {
    if (opts.noiseMultiplier !== undefined || opts.targetEpsilon !== undefined || opts.noiseSeed !== undefined)
      throw new AegisError("BAD_OPTION", "--noise-multiplier, --target-epsilon and --noise-seed configure DP-SGD; add --dp");
    return undefined;
  }
  if (opts.accountant !== "rdp" && opts.accountant !== "prv") throw new AegisError("BAD_OPTION", `--accountant must be rdp or prv, not "${opts.accountant}"`);
  const { noiseMultiplier, targetEpsilon, maxGradNorm, delta, noiseSeed } = opts;
  return { noiseMultiplier, targetEpsilon, maxGradNorm, delta, accountant: opts.accountant, noiseSeed };
}
