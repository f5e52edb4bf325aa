import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { fgsm } from "../../attacks/evasion/fgsm.js";
import { pgd } from "../../attacks/evasion/pgd.js";
import { attackMetrics } from "../../attacks/metrics.js";
import type { Attack, AttackContext, CommonParams } from "../../attacks/types.js";
import { createRng } from "../../data/random.js";
import type { Labels } from "../../engine/capabilities.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { summarizeModel } from "../../engine/inspect.js";
import { countCorrect } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/io.js";
import { sliceRows, type Tensor } from "../../tensor.js";
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

export const DEMO_MODEL = fileURLToPath(new URL("../../../models/mnist-cnn.onnx", import.meta.url));

export function auditCommand(): Command {
  const cmd = new Command("audit")
    .description("audit a model: clean accuracy and robustness to FGSM and PGD over a range of ε (a preview of the full suite)")
    .option("--model <file>", "ONNX model (default: the bundled MNIST CNN)", DEMO_MODEL)
    .option("--data <spec>", "evaluation data (default: mnist's 2,000-sample test split)", "mnist")
    .option("--samples <n>", "evaluate on the first n samples", parseInteger("--samples", 1), 500)
    .option("--seed <s>", "seed of the attacks' random starts", parseInteger("--seed", 0), 0)
    .option("--eps <list>", "comma-separated L∞ budgets", "0.05,0.1,0.2,0.3")
    .option("--batch-size <n>", "samples per batch", parseInteger("--batch-size", 1), 128)
    .option("--out <dir>", "report folder", "aegis-report")
    .option("--json", "print the report as JSON on stdout");
  addDataOptions(cmd);
  addRuntimeOptions(cmd);
  return cmd.action(async (opts) => {
    const epsilons = String(opts.eps)
      .split(",")
      .map((s) => Number(s.trim()));
    if (epsilons.some((e) => !Number.isFinite(e) || e < 0))
      throw new AegisError("BAD_OPTION", `--eps must be a comma-separated list of numbers ≥ 0, not "${opts.eps}"`);
    const started = performance.now();
    const summary = summarizeModel(loadModel(opts.model));
    const data = loadData(opts.data, opts);
    const n = Math.min(opts.samples, data.x.shape[0]);
    const x = sliceRows(data.x, 0, n);
    const labels = labelsOrFail(data, "an audit").slice(0, n);
    const clf = await OnnxClassifier.fromFile(opts.model, { ...runtimeOptions(opts), batchSize: opts.batchSize });
    info(`auditing ${opts.model} on ${n} samples of ${data.name}`);
    const clean = countCorrect(await clf.predict(x), labels);
    // The preview suite: FGSM and PGD-40 over the ε list, the same samples for both.
    const suite = [suiteEntry(fgsm, { ...fgsm.defaults, batchSize: opts.batchSize }), suiteEntry(pgd, { ...pgd.defaults, batchSize: opts.batchSize })];
    const signal = interruptSignal();
    const attacks = [];
    for (const attack of suite) {
      const curve = [];
      for (const eps of epsilons) {
        if (signal.aborted) break;
        const bar = progressBar(`${attack.name} ε=${eps}`, n);
        const run = await attack.run(clf, x, labels, eps, { rng: createRng(opts.seed), signal, onProgress: (done) => bar.update(done) });
        bar.stop();
        const m = await attackMetrics(clf, x, run.x, labels);
        curve.push({ eps, robust_accuracy: m.robust_accuracy, success_rate: m.success_rate, perturbation: m.perturbation });
        info(`${attack.name} ε=${eps}: robust accuracy ${(m.robust_accuracy * 100).toFixed(1)}%`);
      }
      attacks.push({ attack: attack.name, title: attack.title, paper: attack.paper, norm: "inf", curve });
    }
    await clf.release();
    const report = {
      aegis: "0.1.0",
      kind: "audit",
      model: { path: opts.model, ...summary },
      data: { name: data.name, samples: n },
      clean_accuracy: clean / n,
      attacks,
      interrupted: signal.aborted,
      seconds: (performance.now() - started) / 1000,
    };
    mkdirSync(opts.out, { recursive: true });
    writeFileAtomic(join(opts.out, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
    writeFileAtomic(join(opts.out, "report.md"), markdown(report));
    if (opts.json) return printJson(report);
    process.stdout.write(
      [
        `clean accuracy   ${(report.clean_accuracy * 100).toFixed(1)}%  (${n} samples of ${data.name})`,
        ...report.attacks.flatMap((a) =>
          a.curve.map((p) => `${a.attack.padEnd(4)} ε=${p.eps.toFixed(3)}    robust accuracy ${(p.robust_accuracy * 100).toFixed(1)}%`),
        ),
        `report           ${join(opts.out, "report.md")} and report.json`,
        "",
      ].join("\n"),
    );
  });
}

/** An attack with its parameters fixed but for ε. */
function suiteEntry<P extends CommonParams>(attack: Attack<P, OnnxClassifier>, params: P) {
  return {
    name: attack.name,
    title: attack.title,
    paper: attack.paper,
    run: (model: OnnxClassifier, x: Tensor<"float32">, y: Labels, eps: number, ctx: AttackContext) => attack.run(model, x, y, { ...params, eps }, ctx),
  };
}

function markdown(r: {
  model: { path: string; parameters: number; differentiable: boolean; ops: Record<string, number> };
  data: { name: string; samples: number };
  clean_accuracy: number;
  attacks: { attack: string; title: string; paper: string; curve: { eps: number; robust_accuracy: number }[] }[];
}): string {
  const lines = [
    "# Aegis audit",
    "",
    `- model: \`${r.model.path}\` (${r.model.parameters.toLocaleString("en-US")} parameters, differentiable: ${r.model.differentiable})`,
    `- data: ${r.data.name}, ${r.data.samples} samples`,
    `- clean accuracy: **${(r.clean_accuracy * 100).toFixed(1)}%**`,
    "",
  ];
  for (const a of r.attacks) {
    lines.push(`## ${a.title} (${a.paper}), L∞`, "", "| ε | robust accuracy |", "| --- | --- |");
    for (const p of a.curve) lines.push(`| ${p.eps} | ${(p.robust_accuracy * 100).toFixed(1)}% |`);
    lines.push("");
  }
  return `${lines.join("\n")}\n`;
}
