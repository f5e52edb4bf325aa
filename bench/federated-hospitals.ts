/**
 * The five-hospital demo's target, over many splits: federated training of the shipped
 * breast-cancer table (data/breast-cancer) across 5 non-IID hospitals (label-Dirichlet
 * α = 0.5, 20% held out, standardised) against the same model trained centrally on the
 * union of the hospitals' rows. Settings are the walk-through's: `aegis train` (Adam,
 * batch 64, 30 epochs; lr 0.01 for the logistic regression, whose default 1e-3 leaves it
 * short of convergence on some splits, 1e-3 for the MLP) centrally; examples/fl-hospitals.yaml
 * for FedAvg (20 rounds, every hospital, 2 local epochs of SGD 0.1 in batches of 16). The clients
 * run in this process (the test runs them as processes in network namespaces, on split 0).
 * `node --import tsx bench/federated-hospitals.ts` runs it alone.
 */
import { loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { loadDataset } from "../src/data/index.js";
import { type Architecture, adam, buildArchitecture, countCorrect, OnnxClassifier, train } from "../src/engine/index.js";
import { type ClientData, localUpdate, readParameters, splitFederation, weightedMean, writeParameters } from "../src/privacy/index.js";
import { table } from "../src/report/markdown.js";
import { labelsOf } from "../src/tensor.js";

const SPLITS = 10;
/** Adam's learning rate for centralised training, per model. */
const CENTRAL_LR: Record<"linear" | "mlp", number> = { linear: 0.01, mlp: 1e-3 };
const ROUNDS = 20;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

async function accuracy(classifier: OnnxClassifier, data: ClientData): Promise<number> {
  return countCorrect(await classifier.predict(data.x), data.labels) / data.labels.length;
}

async function centralised(arch: "linear" | "mlp", data: ClientData, test: ClientData, seed: number): Promise<number> {
  const classifier = await OnnxClassifier.create(buildArchitecture(arch, { inputShape: [30], numClasses: 2, seed }), { trainable: true });
  await train(classifier, data, { epochs: 30, batchSize: 64, optimizer: adam({ lr: CENTRAL_LR[arch] }), seed });
  const result = await accuracy(classifier, test);
  await classifier.release();
  return result;
}

async function federated(arch: Architecture, hospitals: readonly ClientData[], test: ClientData, seed: number): Promise<number> {
  const classifier = await OnnxClassifier.create(buildArchitecture(arch, { inputShape: [30], numClasses: 2, seed }), { trainable: true });
  let global = readParameters(classifier);
  for (let round = 1; round <= ROUNDS; round++) {
    const updates = [];
    for (const data of hospitals) updates.push(await localUpdate(classifier, global, data, { epochs: 2, batchSize: 16, lr: 0.1, seed: round }));
    const step = weightedMean(updates);
    global = Float32Array.from(global, (w, i) => w + step[i]);
  }
  writeParameters(classifier, global);
  const result = await accuracy(classifier, test);
  await classifier.release();
  return result;
}

export async function benchFederatedHospitals(log: (line: string) => void = () => {}): Promise<string[]> {
  const wdbc = loadDataset(fileURLToPath(new URL("../data/breast-cancer/wdbc.csv", import.meta.url)));
  const table0 = { x: wdbc.x, labels: labelsOf(wdbc.y as NonNullable<typeof wdbc.y>) };
  const started = performance.now();
  const lines: string[] = [];
  for (const arch of ["linear", "mlp"] as const) {
    const rows: string[][] = [];
    const gaps: number[] = [];
    for (let seed = 0; seed < SPLITS; seed++) {
      const split = splitFederation(table0, { clients: 5, alpha: 0.5, testShare: 0.2, standardise: true, seed });
      const central = await centralised(arch, split.train, split.test, seed);
      const fed = await federated(arch, split.clients, split.test, seed);
      gaps.push(central - fed);
      const sizes = split.clients.map((c) => `${c.labels.length}/${c.labels.filter((l) => l === 0).length}`).join(" ");
      rows.push([String(seed), sizes, pct(central), pct(fed), ((central - fed) * 100).toFixed(1)]);
      log(`  hospitals: ${arch} split ${seed}: centralised ${pct(central)}, FedAvg ${pct(fed)}`);
    }
    const within = gaps.filter((g) => g <= 0.02 + 1e-9).length;
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    lines.push(
      `${arch}: FedAvg within 2 points of centralised on ${within} of ${SPLITS} splits; mean gap ${(mean * 100).toFixed(2)} points, worst ${(Math.max(...gaps) * 100).toFixed(1)}`,
      ...table(["split", "hospitals (rows/malignant)", "centralised", "FedAvg", "gap (points)"], rows, [2, 3, 4]),
      "",
    );
  }
  const seconds = (performance.now() - started) / 1000;
  return [
    `federated hospitals — breast-cancer table, 5 hospitals, Dirichlet α 0.5, 20% held out (113–114 rows), ${ROUNDS} rounds`,
    ...lines,
    `  ${seconds.toFixed(0)} s in all, load average ${loadavg()[0].toFixed(2)}`,
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) for (const line of await benchFederatedHospitals((l) => console.error(l))) console.log(line);
