import { Command } from "commander";
import { cleanLabel, POISONING_ATTACKS, parseTrigger, poisoningAttackByName, saveManifest } from "../../attacks/index.js";
import { requireLabels, saveNpz } from "../../data/index.js";
import { createRng } from "../../data/random.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import { tensor } from "../../tensor.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import { parseInteger, parseNumber, runtimeOptions, withData, withJson, withOut, withRuntime, withSeed } from "../options.js";

export function poisonCommand(): Command {
  const cmd = new Command("poison")
    .description(
      "poison a labelled training set (BadNets backdoor, clean-label backdoor, label flipping) and write a manifest of what changed, for evaluation only",
    )
    .argument("<attack>", POISONING_ATTACKS.map((a) => a.name).join(" | "));
  withData(cmd, "the clean training data (mnist: its 8,000-sample train split)", undefined, { split: "train" });
  cmd
    .requiredOption("--manifest <file>", "where to write the poison manifest (rows changed, trigger, target): the truth for aegis inspect-data --manifest")
    .option("--fraction <f>", "share of the rows poisoned (default 0.1)", parseNumber("--fraction"))
    .option(
      "--target <k>",
      "badnets, clean-label: the class the trigger sends inputs to (default 0); label-flip: the class rows are flipped to",
      parseInteger("--target", 0),
    )
    .option("--source <k>", "label-flip: flip only this class's rows (targeted); without it, random flipping", parseInteger("--source", 0))
    .option("--mode <mode>", "badnets: all-to-one (default) or all-to-all (class y → y + 1 mod K)")
    .option(
      "--trigger <spec>",
      'badnets, clean-label: pattern (badnets\' default), pixel, patch (clean-label\'s default: 3×3 checkerboard) or blend, with settings after a colon, e.g. "patch:size=4,row=2,col=2", "blend:alpha=0.2"',
    )
    .option("--model <file>", "clean-label: the robust proxy model the rows are perturbed against (e.g. models/mnist-cnn-pgd-at.onnx)")
    .option("--eps <e>", `clean-label: L∞ radius, a share of the input range (default ${cleanLabel.defaults.eps.toFixed(4)} = 16/255)`, parseNumber("--eps"))
    .option("--max-iter <n>", `clean-label: PGD steps (default ${cleanLabel.defaults.maxIter})`, parseInteger("--max-iter", 1));
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
    if (opts.fraction !== undefined) params.fraction = opts.fraction;
    if (opts.target !== undefined) params.target = opts.target;
    if (attack.name === "label-flip" && opts.source !== undefined) params.source = opts.source;
    if (attack.name === "badnets" && opts.mode !== undefined) params.mode = opts.mode;
    else if (opts.mode !== undefined) throw new AegisError("BAD_OPTION", "--mode applies to badnets only");
    if (attack.name === "badnets" || attack.name === "clean-label") {
      if (opts.trigger !== undefined) params.trigger = parseTrigger(opts.trigger, data.x.shape.slice(1));
    } else if (opts.trigger !== undefined) throw new AegisError("BAD_OPTION", "--trigger applies to badnets and clean-label only");
    if (attack.name === "clean-label") {
      if (opts.eps !== undefined) params.eps = opts.eps;
      if (opts.maxIter !== undefined) params.maxIter = opts.maxIter;
    } else if (opts.model !== undefined || opts.eps !== undefined || opts.maxIter !== undefined)
      throw new AegisError("BAD_OPTION", "--model, --eps and --max-iter apply to clean-label only");
    const model = opts.model === undefined ? undefined : await OnnxClassifier.fromFile(opts.model, runtimeOptions(opts));
    let result: Awaited<ReturnType<typeof attack.poison>>;
    try {
      result = await attack.poison({ x: data.x, labels, numClasses, source: data.name }, params, {
        rng: createRng(opts.seed),
        model,
        progress: progressBar,
        signal: interruptSignal(),
      });
    } finally {
      await model?.release();
    }
    const y = tensor("int64", [labels.length], BigInt64Array.from(result.labels, BigInt));
    saveNpz(opts.out, { x: result.x, y });
    saveManifest(opts.manifest, result.manifest);
    const m = result.manifest;
    info(`${attack.title}: poisoned ${m.poisoned.length} of ${m.data.rows} rows of ${data.name}; wrote ${opts.out} and ${opts.manifest}`);
    if (opts.json)
      printJson({ attack: m.attack, out: opts.out, manifest: opts.manifest, rows: m.data.rows, poisoned: m.poisoned.length, goal: m.goal, trigger: m.trigger });
  });
}
