/**
 * The federated-learning issue's robustness table on the built-in MNIST (8,000 train /
 * 2,000 test), after Flower's FLANDERS baseline: an MLP, 100 clients of which 20 attack,
 * a mildly non-IID label-Dirichlet split (α = 10), every client in every round. Every aggregator runs
 * against every attack from the same initial model; the targets are that FedAvg breaks
 * and at least one robust rule holds within 5 points of attack-free FedAvg against each
 * attack. `node --import tsx bench/federated.ts` runs it alone.
 */
import { loadMnist } from "../src/data/index.js";
import { buildArchitecture } from "../src/engine/index.js";
import {
  AGGREGATORS,
  aggregatorByName,
  FL_ATTACKS,
  prepareSimulation,
  runSimulation,
  type SimulationRun,
  settingLine,
  summarise,
  summaryRows,
} from "../src/privacy/index.js";
import { table } from "../src/report/markdown.js";
import { labelsOf } from "../src/tensor.js";

const CLIENTS = 100;
const MALICIOUS = 20;
const ROUNDS = 8;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

export async function benchFederated(log: (line: string) => void = () => {}): Promise<string[]> {
  const { train, test } = loadMnist();
  const model = buildArchitecture("mlp", { inputShape: train.x.shape.slice(1), numClasses: 10, seed: 0 });
  const started = performance.now();
  const sim = await prepareSimulation(
    model,
    { x: train.x, labels: labelsOf(train.y) },
    { x: test.x, labels: labelsOf(test.y) },
    { clients: CLIENTS, malicious: MALICIOUS, rounds: ROUNDS, alpha: 10, local: { epochs: 1, batchSize: 16, lr: 0.2 } },
  );
  const runs: SimulationRun[] = [];
  for (const name of AGGREGATORS) {
    for (const attack of FL_ATTACKS) {
      const run = await runSimulation(sim, aggregatorByName(name), attack);
      log(
        `  fl: ${name} × ${attack}: accuracy ${pct(run.accuracy)}, backdoor ${pct(run.backdoorSuccess)}, per round ${run.rounds.map((r) => pct(r.accuracy)).join(" ")}`,
      );
      runs.push(run);
    }
  }
  await sim.classifier.release();
  const summary = summarise(sim, runs);
  const { head, rows } = summaryRows(summary);
  const seconds = (performance.now() - started) / 1000;
  return [
    `federated learning — MNIST MLP, ${settingLine(summary)}; local: 1 epoch, batch 16, SGD 0.2`,
    ...table(head, rows, head.map((_, i) => i).slice(1)),
    `attack-free FedAvg: ${pct(summary.reference ?? 0)}; within 5 points per attack: ${Object.entries(summary.holding)
      .map(([attack, held]) => `${attack} → ${held.length > 0 ? held.join(", ") : "none"}`)
      .join("; ")}`,
    `  ${seconds.toFixed(0)} s in all, load average ${(await import("node:os")).loadavg()[0].toFixed(2)}`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchFederated((l) => console.error(l))) console.log(line);
