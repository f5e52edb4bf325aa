import { Command } from "commander";
import {
  cleanLabel,
  type FeatureConstraints,
  featureCollision,
  gradientMatching,
  loadConstraintsFile,
  POISONING_ATTACKS,
  parsePattern,
  parseTrigger,
  poisoningAttackByName,
  saveManifest,
} from "../../attacks/index.js";
import { requireLabels, saveNpz } from "../../data/index.js";
import { createRng } from "../../data/random.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { gatherRows, type Tensor, tensor } from "../../tensor.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import { parseInteger, parseNumber, runtimeOptions, withData, withJson, withOut, withRuntime, withSeed } from "../options.js";

export function poisonCommand(): Command {
  const cmd = new Command("poison")
    .description(
      "poison a labelled training set (BadNets backdoor, clean-label backdoor, feature collision, gradient matching, label flipping, tabular blind spot) and write a manifest of what changed, for evaluation only",
    )
    .argument("<attack>", POISONING_ATTACKS.map((a) => a.name).join(" | "));
  withData(cmd, "the clean training data (mnist: its 8,000-sample train split)", undefined, { split: "train" });
  cmd
    .requiredOption("--manifest <file>", "where to write the poison manifest (rows changed, trigger, target): the truth for aegis inspect-data --manifest")
    .option(
      "--fraction <f>",
      `share of the rows poisoned (default 0.1; gradient-matching: ${gradientMatching.defaults.fraction}, the paper's)`,
      parseNumber("--fraction"),
    )
    .option(
      "--target <k>",
      "badnets, clean-label: the class the trigger sends inputs to (default 0); label-flip: the class rows are flipped to; tabular-blind-spot: the benign class the poisoned rows carry (default 0)",
      parseInteger("--target", 0),
    )
    .option(
      "--source <k>",
      "label-flip: flip only this class's rows (targeted); without it, random flipping; tabular-blind-spot: the class hidden in the blind spot (default 1)",
      parseInteger("--source", 0),
    )
    .option(
      "--mode <mode>",
      "badnets: all-to-one (default) or all-to-all (class y → y + 1 mod K); tabular-blind-spot: inject (default: add rows) or flip (relabel rows)",
    )
    .option("--pattern <conditions>", 'tabular-blind-spot: the blind spot, feature=value conditions that all hold, e.g. "merchant_electronics=1,amount>=500"')
    .option(
      "--constraints <file>",
      "tabular-blind-spot: the constraints file (bounds, whole numbers, one-hot groups, immutables) injected rows obey; its feature names can be used in --pattern",
    )
    .option(
      "--trigger <spec>",
      'badnets, clean-label: pattern (badnets\' default), pixel, patch (clean-label\'s default: 3×3 checkerboard) or blend, with settings after a colon, e.g. "patch:size=4,row=2,col=2", "blend:alpha=0.2"',
    )
    .option(
      "--model <file>",
      "clean-label: the robust proxy model the rows are perturbed against (e.g. models/mnist-cnn-pgd-at.onnx); feature-collision: the model (victim or surrogate) whose features collide; gradient-matching: a model of the victim's architecture trained on the clean set (the surrogate)",
    )
    .option(
      "--eps <e>",
      `clean-label, gradient-matching: L∞ radius, a share of the input range (default ${cleanLabel.defaults.eps.toFixed(4)} = 16/255)`,
      parseNumber("--eps"),
    )
    .option(
      "--max-iter <n>",
      `clean-label: PGD steps (default ${cleanLabel.defaults.maxIter}); feature-collision: forward–backward iterations (default ${featureCollision.defaults.maxIter}); gradient-matching: signed-Adam steps per restart (default ${gradientMatching.defaults.maxIter})`,
      parseInteger("--max-iter", 1),
    )
    .option(
      "--target-index <i>",
      "feature-collision, gradient-matching: row of --target-data that the poisoned model should classify as --base-class",
      parseInteger("--target-index", 0),
    )
    .option(
      "--target-data <spec>",
      "feature-collision, gradient-matching: where the target comes from (default: the test split of a built-in --data; required with a file)",
    )
    .option(
      "--base-class <k>",
      "feature-collision, gradient-matching: the class B the target should become; poisons are crafted from B's rows and keep label B",
      parseInteger("--base-class", 0),
    )
    .option(
      "--count <n>",
      `feature-collision: number of poisons (default ${featureCollision.defaults.count}, the paper's one-shot kill)`,
      parseInteger("--count", 1),
    )
    .option(
      "--watermark <opacity>",
      "feature-collision: blend the target into each base first at this opacity (default 0; the paper's end-to-end setting: 0.3)",
      parseNumber("--watermark"),
    )
    .option(
      "--beta0 <b>",
      `feature-collision: input-space weight β₀, scaled by dim_f²/dim_b² (default ${featureCollision.defaults.beta0})`,
      parseNumber("--beta0"),
    )
    .option("--layer <name>", "feature-collision: the model value whose features collide (default: the penultimate layer)")
    .option(
      "--restarts <r>",
      `gradient-matching: crafting runs from random starts, the best-aligned kept (default ${gradientMatching.defaults.restarts}, the paper's)`,
      parseInteger("--restarts", 1),
    );
  withSeed(cmd, "the rows drawn (and a blend trigger's noise)");
  withOut(cmd, "where to write the poisoned set (.npz with x and y)", undefined, true);
  withRuntime(cmd);
  withJson(cmd, "the manifest's summary");
  return cmd.action(async (name: string, opts) => {
    const attack = poisoningAttackByName(name);
    if (!attack) throw new AegisError("BAD_OPTION", `unknown poisoning attack "${name}"; choose ${POISONING_ATTACKS.map((a) => a.name).join(", ")}`);
    const data = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: opts.split });
    const labels = requireLabels(data, "poisoning");
    const numClasses = Math.max(...labels) + 1;
    const params: Record<string, unknown> = { ...attack.defaults };
    if (attack.name === "feature-collision" && (opts.fraction !== undefined || opts.target !== undefined))
      throw new AegisError("BAD_OPTION", "feature-collision takes --count poisons and a --base-class, not --fraction or --target");
    if (attack.name === "gradient-matching" && opts.target !== undefined)
      throw new AegisError("BAD_OPTION", "gradient-matching takes a --base-class (the class the target should become), not --target");
    if (opts.fraction !== undefined) params.fraction = opts.fraction;
    if (opts.target !== undefined) params.target = opts.target;
    const blindSpot = attack.name === "tabular-blind-spot";
    if ((attack.name === "label-flip" || blindSpot) && opts.source !== undefined) params.source = opts.source;
    if ((attack.name === "badnets" || blindSpot) && opts.mode !== undefined) params.mode = opts.mode;
    else if (opts.mode !== undefined) throw new AegisError("BAD_OPTION", "--mode applies to badnets and tabular-blind-spot only");
    let constraints: FeatureConstraints | undefined;
    if (blindSpot) {
      const features = data.x.shape.slice(1).reduce((a, b) => a * b, 1);
      if (opts.constraints !== undefined) constraints = loadConstraintsFile(opts.constraints, features);
      if (opts.pattern !== undefined) params.pattern = parsePattern(opts.pattern, constraints?.names, features);
    } else if (opts.pattern !== undefined || opts.constraints !== undefined)
      throw new AegisError("BAD_OPTION", "--pattern and --constraints apply to tabular-blind-spot only");
    if (attack.name === "badnets" || attack.name === "clean-label") {
      if (opts.trigger !== undefined) params.trigger = parseTrigger(opts.trigger, data.x.shape.slice(1));
    } else if (opts.trigger !== undefined) throw new AegisError("BAD_OPTION", "--trigger applies to badnets and clean-label only");
    if ((attack.name === "clean-label" || attack.name === "gradient-matching") && opts.eps !== undefined) params.eps = opts.eps;
    else if (opts.eps !== undefined) throw new AegisError("BAD_OPTION", "--eps applies to clean-label and gradient-matching only");
    if (attack.name === "gradient-matching" && opts.restarts !== undefined) params.restarts = opts.restarts;
    else if (opts.restarts !== undefined) throw new AegisError("BAD_OPTION", "--restarts applies to gradient-matching only");
    if (attack.needsModel) {
      if (opts.maxIter !== undefined) params.maxIter = opts.maxIter;
    } else if (opts.model !== undefined || opts.maxIter !== undefined)
      throw new AegisError("BAD_OPTION", "--model and --max-iter apply to clean-label, feature-collision and gradient-matching only");
    const collisionFlags = ["targetIndex", "targetData", "baseClass", "count", "watermark", "beta0", "layer"];
    let targets: { x: Tensor<"float32">; labels: number[] } | undefined;
    if (attack.name === "feature-collision") {
      for (const key of collisionFlags.slice(2)) if (opts[key] !== undefined) params[key] = opts[key];
      targets = targetInput(opts, data.name, attack.name);
    } else if (attack.name === "gradient-matching") {
      const onlyCollision = collisionFlags.slice(3).filter((key) => opts[key] !== undefined);
      if (onlyCollision.length > 0) throw new AegisError("BAD_OPTION", "--count, --watermark, --beta0 and --layer apply to feature-collision only");
      if (opts.baseClass !== undefined) params.adversarialClass = opts.baseClass;
      targets = targetInput(opts, data.name, attack.name);
    } else if (collisionFlags.some((key) => opts[key] !== undefined))
      throw new AegisError(
        "BAD_OPTION",
        "--target-index, --target-data and --base-class apply to feature-collision and gradient-matching, --count, --watermark, --beta0 and --layer to feature-collision only",
      );
    const model = opts.model === undefined ? undefined : await OnnxClassifier.fromFile(opts.model, runtimeOptions(opts));
    let result: Awaited<ReturnType<typeof attack.poison>>;
    try {
      result = await attack.poison({ x: data.x, labels, numClasses, source: data.name }, params, {
        rng: createRng(opts.seed),
        model,
        targets,
        constraints,
        progress: progressBar,
        signal: interruptSignal(),
      });
    } finally {
      await model?.release();
    }
    const y = tensor("int64", [result.labels.length], BigInt64Array.from(result.labels, BigInt));
    saveNpz(opts.out, { x: result.x, y });
    saveManifest(opts.manifest, result.manifest);
    const m = result.manifest;
    info(`${attack.title}: poisoned ${m.poisoned.length} of ${m.data.rows} rows of ${data.name}; wrote ${opts.out} and ${opts.manifest}`);
    if (opts.json)
      printJson({ attack: m.attack, out: opts.out, manifest: opts.manifest, rows: m.data.rows, poisoned: m.poisoned.length, goal: m.goal, trigger: m.trigger });
  });
}

/** The one target of feature collision and gradient matching: row --target-index of --target-data, or of the built-in set's test split. */
function targetInput(opts: { data: string; targetData?: string; targetIndex?: number; xKey?: string; yKey?: string }, dataName: string, attack: string) {
  if (opts.targetIndex === undefined) throw new AegisError("BAD_OPTION", `${attack} needs --target-index, the row of --target-data to misclassify`);
  const builtin = opts.data === "mnist" || opts.data === "mnist-full";
  if (opts.targetData === undefined && !builtin)
    throw new AegisError("BAD_OPTION", `${attack} takes its target from --target-data (a test set); ${dataName} is a file, so give one`);
  const source = loadData(opts.targetData ?? opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: "test" });
  const labels = requireLabels(source, `choosing the ${attack} target`);
  if (opts.targetIndex >= labels.length)
    throw new AegisError("BAD_OPTION", `--target-index ${opts.targetIndex} is beyond ${source.name}'s ${labels.length} rows`);
  return { x: gatherRows(source.x, [opts.targetIndex]), labels: [labels[opts.targetIndex]] };
}
