import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { fgsm } from "../../attacks/evasion/fgsm.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { summarizeModel } from "../../engine/inspect.js";
import { countCorrect } from "../../engine/trainer.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel } from "../../onnx/io.js";
import { sliceRows } from "../../tensor.js";
import { addDataOptions, addRuntimeOptions, info, labelsOrFail, loadData, parseInteger, printJson, progressBar, runtimeOptions } from "../common.js";

export const DEMO_MODEL = fileURLToPath(new URL("../../../models/mnist-cnn.onnx", import.meta.url));

export function auditCommand(): Command {
  const cmd = new Command("audit")
    .description("audit a model: clean accuracy and robustness to FGSM over a range of ε (the full attack suite is coming)")
    .option("--model <file>", "ONNX model (default: the bundled MNIST CNN)", DEMO_MODEL)
    .option("--data <spec>", "evaluation data (default: mnist's 2,000-sample test split)", "mnist")
    .option("--samples <n>", "evaluate on the first n samples", parseInteger("--samples", 1), 1000)
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
    const bar = progressBar("fgsm", n);
    let clean = 0;
    const robust = epsilons.map(() => 0);
    for (let start = 0; start < n; start += opts.batchSize) {
      const end = Math.min(n, start + opts.batchSize);
      const xb = sliceRows(x, start, end);
      const yb = labels.slice(start, end);
      clean += countCorrect(await clf.predict(xb), yb);
      const adversarial = await fgsm(clf, xb, yb, { epsilons });
      for (let e = 0; e < epsilons.length; e++) robust[e] += countCorrect(await clf.predict(adversarial[e]), yb);
      bar.update(end);
    }
    bar.stop();
    await clf.release();
    const report = {
      aegis: "0.1.0",
      kind: "audit",
      model: { path: opts.model, ...summary },
      data: { name: data.name, samples: n },
      clean_accuracy: clean / n,
      attacks: [
        {
          attack: "fgsm",
          paper: "Goodfellow, Shlens & Szegedy 2015",
          norm: "inf",
          curve: epsilons.map((eps, i) => ({ eps, robust_accuracy: robust[i] / n })),
        },
      ],
      seconds: (performance.now() - started) / 1000,
    };
    mkdirSync(opts.out, { recursive: true });
    writeFileAtomic(join(opts.out, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
    writeFileAtomic(join(opts.out, "report.md"), markdown(report));
    if (opts.json) return printJson(report);
    process.stdout.write(
      [
        `clean accuracy   ${(report.clean_accuracy * 100).toFixed(1)}%  (${n} samples of ${data.name})`,
        ...report.attacks[0].curve.map((p) => `fgsm ε=${p.eps.toFixed(3)}    robust accuracy ${(p.robust_accuracy * 100).toFixed(1)}%`),
        `report           ${join(opts.out, "report.md")} and report.json`,
        "",
      ].join("\n"),
    );
  });
}

function markdown(r: {
  model: { path: string; parameters: number; differentiable: boolean; ops: Record<string, number> };
  data: { name: string; samples: number };
  clean_accuracy: number;
  attacks: { attack: string; paper: string; curve: { eps: number; robust_accuracy: number }[] }[];
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
    lines.push(`## ${a.attack.toUpperCase()} (${a.paper}), L∞`, "", "| ε | robust accuracy |", "| --- | --- |");
    for (const p of a.curve) lines.push(`| ${p.eps} | ${(p.robust_accuracy * 100).toFixed(1)}% |`);
    lines.push("");
  }
  return `${lines.join("\n")}\n`;
}
