/**
 * Robust rules under secure aggregation, in buckets (secagg/buckets-karimireddy2022.ts),
 * against secure FedAvg, at the scale of the README's table: 2,000 MNIST digits across 20
 * clients (α = 10), 5 rounds, local SGD 0.3, 10 buckets of 2, with 2 and then 4 attackers
 * (λ = 10 for sign-flip and scaled). The reference is attack-free FedAvg in the clear from
 * the same seed; the target is that secure FedAvg breaks and the median over buckets holds
 * within 5 points. `node --import tsx bench/federated-buckets.ts` runs it alone.
 */
import { loadavg } from "node:os";
import { loadMnist } from "../src/data/index.js";
import { buildArchitecture } from "../src/engine/index.js";
import { type FlAttack, fedAvg, prepareSimulation, runSimulation, type SimulationOptions, simulationTable } from "../src/privacy/index.js";
import { table } from "../src/report/markdown.js";
import { labelsOf, sliceRows } from "../src/tensor.js";

const ATTACKS: FlAttack[] = ["none", "sign-flip", "scaled", "gaussian", "lie"];
const BUCKETS = 10;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;

export async function benchFederatedBuckets(log: (line: string) => void = () => {}): Promise<string[]> {
  const mnist = loadMnist();
  const train = { x: sliceRows(mnist.train.x, 0, 2000), labels: labelsOf(sliceRows(mnist.train.y, 0, 2000)) };
  const test = { x: sliceRows(mnist.test.x, 0, 1000), labels: labelsOf(sliceRows(mnist.test.y, 0, 1000)) };
  const model = buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  const started = performance.now();
  const base: SimulationOptions = { clients: 20, rounds: 5, alpha: 10, local: { lr: 0.3 }, attackSettings: { scale: 10 } };
  const plain = await prepareSimulation(model, train, test, base);
  const reference = (await runSimulation(plain, fedAvg, "none")).accuracy;
  await plain.classifier.release();
  const rows: string[][] = [];
  for (const malicious of [2, 4]) {
    for (const [rule, buckets] of [
      ["fedavg", undefined],
      ["median", BUCKETS],
    ] as const) {
      const sim = await prepareSimulation(model, train, test, { ...base, malicious, secureAggregation: {}, buckets });
      const runs = await simulationTable(sim, [rule], ATTACKS);
      await sim.classifier.release();
      log(`  fl buckets: ${malicious} attackers, ${runs[0].aggregator}: ${runs.map((r) => `${r.attack} ${pct(r.accuracy)}`).join(", ")}`);
      rows.push([`${malicious} of 20`, runs[0].aggregator, ...runs.map((r) => pct(r.accuracy))]);
    }
  }
  const head = ["attackers", "aggregator", ...ATTACKS];
  return [
    `robust rules under secure aggregation — MNIST MLP, 2,000 digits, 20 clients, α 10, 5 rounds, ${BUCKETS} buckets; attack-free FedAvg in the clear: ${pct(reference)}`,
    ...table(head, rows, head.map((_, i) => i).slice(2)),
    `  ${((performance.now() - started) / 1000).toFixed(0)} s in all, load average ${loadavg()[0].toFixed(2)}`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchFederatedBuckets((l) => console.error(l))) console.log(line);
