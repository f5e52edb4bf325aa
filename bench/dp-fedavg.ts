/**
 * DP-FedAvg (McMahan et al. 2018, src/privacy/federated/dp-fedavg-mcmahan2018.ts): test
 * accuracy against ε per client at δ = 10⁻⁵ on MNIST, the reference being plain FedAvg from
 * the same split and initial model, measured in the same run. Each row is one noise multiplier
 * z (z = 0: the clip alone, ε infinite). BENCH_DPFL_DATA (default mnist; mnist-full for 60,000
 * digits), BENCH_DPFL_CLIENTS (default 100), BENCH_DPFL_FRACTION (q, default 0.1),
 * BENCH_DPFL_ROUNDS (default 30), BENCH_DPFL_CLIP (S, default 2) and BENCH_DPFL_Z (default
 * 0,0.3,0.6,1) set the scale. `node --import tsx bench/dp-fedavg.ts` runs it alone.
 */
import { loadavg } from "node:os";
import { loadMnist, loadMnistFull } from "../src/data/index.js";
import { buildArchitecture } from "../src/engine/index.js";
import { fedAvg, prepareSimulation, runSimulation, type SimulationOptions, simulationAggregator, simulationEpsilon } from "../src/privacy/index.js";
import { table } from "../src/report/markdown.js";
import { labelsOf } from "../src/tensor.js";

const env = process.env;
const clients = Number(env.BENCH_DPFL_CLIENTS ?? 100);
const fraction = Number(env.BENCH_DPFL_FRACTION ?? 0.1);
const rounds = Number(env.BENCH_DPFL_ROUNDS ?? 30);
const clip = Number(env.BENCH_DPFL_CLIP ?? 2);
const multipliers = (env.BENCH_DPFL_Z ?? "0,0.3,0.6,1").split(",").map(Number);
const full = env.BENCH_DPFL_DATA === "mnist-full";

export async function benchDpFedAvg(log: (line: string) => void = () => {}): Promise<string[]> {
  const { train, test } = full ? { train: loadMnistFull("train"), test: loadMnistFull("test") } : loadMnist();
  const trainSet = { x: train.x, labels: labelsOf(train.y) };
  const testSet = { x: test.x, labels: labelsOf(test.y) };
  const model = buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  const options: SimulationOptions = { clients, fraction, rounds, alpha: 10, local: { epochs: 1, batchSize: 16, lr: 0.2 } };
  const started = performance.now();
  const plainSim = await prepareSimulation(model, trainSet, testSet, options);
  const plain = await runSimulation(plainSim, fedAvg, "none");
  await plainSim.classifier.release();
  const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
  const rows = [["FedAvg", "—", "∞", pct(plain.accuracy), "—"]];
  for (const z of multipliers) {
    const sim = await prepareSimulation(model, trainSet, testSet, { ...options, dp: { clip, noiseMultiplier: z, delta: 1e-5 } });
    const run = await runSimulation(sim, simulationAggregator(sim, "fedavg"), "none");
    await sim.classifier.release();
    const epsilon = simulationEpsilon(sim, rounds);
    log(`  dp-fedavg z = ${z}: ${pct(run.accuracy)} at ε ${epsilon.toFixed(2)}`);
    rows.push([
      "DP-FedAvg",
      String(z),
      Number.isFinite(epsilon) ? epsilon.toFixed(2) : "∞",
      pct(run.accuracy),
      `${((run.accuracy - plain.accuracy) * 100).toFixed(1)} points`,
    ]);
  }
  const seconds = (performance.now() - started) / 1000;
  return [
    `DP-FedAvg (McMahan et al. 2018) — ${full ? "MNIST 60,000" : "MNIST 8,000"} digits, MLP, ${clients} clients, q = ${fraction} (Poisson), ${rounds} rounds, S = ${clip}, δ = 1e-5 per client`,
    ...table(["rule", "z", "ε per client", "accuracy", "vs FedAvg"], rows, [1, 2, 3, 4]),
    `${seconds.toFixed(0)} s; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDpFedAvg((l) => console.error(l))) console.log(line);
