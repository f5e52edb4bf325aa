/**
 * Tabular poisoning on the fraud example (fixtures/data/fraud.npz, 4,000 training and 1,000
 * test transactions): a blind spot for one merchant category, opened by injecting or
 * flipping rows, then found and repaired.
 * - The victim is the fixture's model, retrained the fixture's way (an MLP 256-128 with the
 *   training set's standardisation in the graph, Adam 10⁻³, batches of 64) on the poisoned set.
 * - The attack's effect: fraud recall inside the pattern on the test split, before and
 *   after, and fraud recall outside it (the collateral damage), at several budgets.
 * - The defences score every training row; reported: ROC AUC and recall at ≤ 5% false
 *   positives on the poisoned rows, then the victim retrained without the rows each flags
 *   and the blind-spot recall it restores.
 * The defender's trusted rows are the first TRUSTED rows of the test split; recall is
 * measured on the others. `node --import tsx bench/tabular-poisoning.ts` runs it alone.
 */
import { readFileSync } from "node:fs";
import os from "node:os";
import {
  type FeatureConstraints,
  type PoisonManifest,
  type PoisonResult,
  parseConstraints,
  parsePattern,
  poisonedFlags,
  poisonSuccess,
  tabularBlindSpot,
} from "../src/attacks/index.js";
import { loadDataset } from "../src/data/index.js";
import { createRng } from "../src/data/random.js";
import { inspectData } from "../src/defenses/index.js";
import { buildArchitecture, OnnxClassifier } from "../src/engine/index.js";
import { adam } from "../src/engine/optimizers.js";
import { train } from "../src/engine/trainer.js";
import { gatherRows, labelsOf, sliceRows, type Tensor } from "../src/tensor.js";

const ROOT = new URL("../", import.meta.url).pathname;
export type Labelled = { x: Tensor<"float32">; labels: number[] };

export const TRUSTED = 200;
export const BLIND_SPOT = "merchant_electronics=1";

/** The fraud fixture: training rows, the defender's trusted rows, the test rows recall is measured on, and the constraints. */
export function fraudData(): { train: Labelled; trusted: Labelled; test: Labelled; constraints: FeatureConstraints } {
  const split = (s: string) => {
    const { x, y } = loadDataset(`${ROOT}fixtures/data/fraud.npz`, { xKey: `x_${s}`, yKey: `y_${s}` });
    return { x, labels: labelsOf(y as Tensor) };
  };
  const test = split("test");
  const n = test.labels.length;
  return {
    train: split("train"),
    trusted: { x: sliceRows(test.x, 0, TRUSTED), labels: test.labels.slice(0, TRUSTED) },
    test: { x: sliceRows(test.x, TRUSTED, n), labels: test.labels.slice(TRUSTED) },
    constraints: parseConstraints(JSON.parse(readFileSync(`${ROOT}fixtures/data/fraud.constraints.json`, "utf8")), 12),
  };
}

/** The blind-spot attack on the training rows. */
export function blindSpot(data: Labelled, constraints: FeatureConstraints, mode: "flip" | "inject", fraction: number, seed = 0): Promise<PoisonResult> {
  const pattern = parsePattern(BLIND_SPOT, constraints.names, 12);
  return tabularBlindSpot.poison(
    { ...data, numClasses: 2, source: "fraud.npz" },
    { ...tabularBlindSpot.defaults, pattern, mode, fraction },
    { rng: createRng(seed), constraints },
  );
}

/** The fixture's victim trained on `data`: its own standardisation in the graph. Release it when done. */
export async function trainFraudModel(data: Labelled, options: { epochs?: number; seed?: number } = {}): Promise<OnnxClassifier> {
  const [n, f] = data.x.shape;
  const mean = new Array<number>(f).fill(0);
  const std = new Array<number>(f).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) mean[j] += data.x.data[i * f + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < f; j++) std[j] += (data.x.data[i * f + j] - mean[j]) ** 2 / n;
  const model = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [f], numClasses: 2, seed: options.seed ?? 0 }), {
    trainable: true,
    preprocessing: { mean, std: std.map((s) => Math.sqrt(s) || 1) },
    clipRange: [0, 10000],
    threads: 1,
  });
  await train(model, data, { epochs: options.epochs ?? 30, batchSize: 64, optimizer: adam({ lr: 1e-3 }), seed: options.seed ?? 0 });
  return model;
}

/** Fraud recall inside the blind spot and outside it, and accuracy, of `model` on `test`. */
export async function recalls(model: OnnxClassifier, test: Labelled, manifest: PoisonManifest) {
  const s = await poisonSuccess(model, test, manifest);
  return { inside: 1 - s.attack_success_rate, outside: 1 - (s.elsewhere?.rate ?? 0), accuracy: s.clean_accuracy };
}

const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
const SEEDS = [0, 1, 2];

/** Recalls of the victim trained on `data`, averaged over training seeds (one run's recall moves by several points with the seed). */
export async function meanRecalls(data: Labelled, test: Labelled, manifest: PoisonManifest, seeds: readonly number[] = SEEDS) {
  const sum = { inside: 0, outside: 0, accuracy: 0 };
  for (const seed of seeds) {
    const model = await trainFraudModel(data, { seed });
    const r = await recalls(model, test, manifest);
    await model.release();
    for (const key of ["inside", "outside", "accuracy"] as const) sum[key] += r[key] / seeds.length;
  }
  return sum;
}

/** The rows a data inspection did not flag. */
export function withoutFlagged(data: Labelled, flagged: readonly boolean[]): Labelled {
  const kept = data.labels.flatMap((_, i) => (flagged[i] ? [] : [i]));
  return { x: gatherRows(data.x, kept), labels: kept.map((i) => data.labels[i]) };
}

const BUDGETS = [
  ["inject", 0.01],
  ["inject", 0.03],
  ["inject", 0.1],
  ["flip", 0.01],
  ["flip", 0.03],
  ["flip", 0.08],
] as const;

export async function benchTabularPoisoning(log: (line: string) => void = () => {}): Promise<string[]> {
  const { train: clean, trusted, test, constraints } = fraudData();
  const load = () =>
    os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(" ");
  const lines = [
    `tabular poisoning: a blind spot for ${BLIND_SPOT} in the fraud MLP, recalls on ${test.labels.length} test rows averaged over ${SEEDS.length} training seeds (load ${load()})`,
  ];
  const out = (line: string) => {
    lines.push(line);
    log(line);
  };
  const reference = (await blindSpot(clean, constraints, "flip", 0.01)).manifest;
  const before = await meanRecalls(clean, test, reference);
  out(`  clean: fraud recall ${pct(before.inside)} in the blind spot, ${pct(before.outside)} elsewhere, accuracy ${pct(before.accuracy)}`);
  out(
    "  attack | rows | blind-spot recall | elsewhere | accuracy || defence: ROC AUC, recall at 5% FPR || retrained without its flagged 5%: blind spot, elsewhere",
  );
  for (const [mode, fraction] of BUDGETS) {
    const poisoned = await blindSpot(clean, constraints, mode, fraction);
    const data = { x: poisoned.x, labels: poisoned.labels };
    const after = await meanRecalls(data, test, poisoned.manifest);
    const truth = poisonedFlags(poisoned.manifest, poisoned.labels.length);
    const victim = await trainFraudModel(data);
    const scored: string[] = [];
    const repairs: string[] = [];
    for (const [name, options] of [
      ["influence", {}],
      ["roni", {}],
      ["roni", { trusted }],
    ] as const) {
      const label = `${name}${"trusted" in options ? " + trusted" : ""}`;
      const report = await inspectData(victim, { ...data, name: "fraud" }, "victim", { defence: name, poisoned: truth, ...options });
      const t = report.truth;
      if (!t) throw new Error("inspectData scored nothing against the manifest");
      scored.push(`${label} ${t.roc_auc.toFixed(3)}, ${pct(t.recall_at_5_fpr)}`);
      if (name === "roni" && !("trusted" in options)) continue;
      const flagged = new Array<boolean>(truth.length).fill(false);
      for (const s of report.suspected) flagged[s.row] = true;
      const repaired = await meanRecalls(withoutFlagged(data, flagged), test, poisoned.manifest);
      repairs.push(`${label} ${pct(repaired.inside)}, ${pct(repaired.outside)}`);
    }
    await victim.release();
    out(
      `  ${mode} ${pct(fraction).padStart(5)} | ${poisoned.manifest.poisoned.length} | ${pct(before.inside)} → ${pct(after.inside)} | ${pct(before.outside)} → ${pct(after.outside)} | ${pct(after.accuracy)} || ${scored.join("; ")} || ${repairs.join("; ")}`,
    );
  }
  lines.push(`  (load at the end ${load()})`);
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchTabularPoisoning((l) => console.error(l))) console.log(line);
