/**
 * Secure aggregation's cost (Bonawitz et al. 2017, src/privacy/federated/secagg) against the
 * client count, on updates the size of the MNIST MLP of the federated bench (784·256 +
 * 256·128 + 128·10 weights and biases, plus FedAvg's weight coordinate): per client and
 * round, the payload bytes sent and received and the compute time, and the server's time,
 * with a tenth of the clients dropping after sharing their keys (the case that makes the
 * server reconstruct mask keys). The reference, measured in the same run, is plain FedAvg:
 * each client sends its update in the clear (4 bytes a parameter) and the server takes the
 * weighted mean. Then FedAvg with and without secure aggregation from the same seed: the
 * accuracy must agree (to quantisation error). BENCH_SECAGG_CLIENTS (default 20,50,100)
 * picks the client counts. `node --import tsx bench/secagg.ts` runs it alone.
 */
import { loadavg } from "node:os";
import { loadMnist } from "../src/data/index.js";
import { buildArchitecture, OnnxClassifier } from "../src/engine/index.js";
import {
  fedAvg,
  fixedPointFor,
  parameterCount,
  prepareSimulation,
  quantise,
  runSimulation,
  secureAggregator,
  secureSum,
  weightedMean,
} from "../src/privacy/index.js";
import { table } from "../src/report/markdown.js";
import { labelsOf } from "../src/tensor.js";

const clientCounts = (process.env.BENCH_SECAGG_CLIENTS ?? "20,50,100").split(",").map(Number);
const kib = (bytes: number) => `${(bytes / 1024).toFixed(0)} KiB`;
const ms = (v: number) => `${v.toFixed(0)} ms`;

export async function benchSecAgg(log: (line: string) => void = () => {}): Promise<string[]> {
  const model = buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 0 });
  const probe = await OnnxClassifier.create(model, { trainable: true });
  const d = parameterCount(probe);
  await probe.release();

  const rows: string[][] = [];
  for (const n of clientCounts) {
    const updates = Array.from({ length: n }, (_, k) => ({ delta: Float32Array.from({ length: d }, (_, i) => Math.sin(i * (k + 1)) * 0.01), examples: 80 }));
    const plainStarted = performance.now();
    weightedMean(updates);
    const plainServerMs = performance.now() - plainStarted;
    const fixedPoint = fixedPointFor(n, 1);
    const inputs = updates.map((u) => quantise([...u.delta, 1], fixedPoint).field);
    const dropped = Array.from({ length: Math.floor(n / 10) }, (_, i) => 1 + i * 10);
    const { cost, threshold } = secureSum(inputs, { dropouts: { beforeInput: dropped } });
    const plainBytes = 4 * d;
    log(`  secagg: ${n} clients, t = ${threshold}, ${dropped.length} dropped: client ${ms(cost.clientMs)}, server ${ms(cost.serverMs)}`);
    rows.push([
      String(n),
      `${threshold}`,
      `${dropped.length}`,
      kib(cost.bytesSentPerClient),
      `${(cost.bytesSentPerClient / plainBytes).toFixed(3)}×`,
      kib(cost.bytesReceivedPerClient),
      ms(cost.clientMs),
      ms(cost.serverMs),
      `${(cost.serverMs / Math.max(plainServerMs, 0.01)).toFixed(0)}×`,
    ]);
  }
  const head = ["clients", "t", "dropped", "sent / client", "vs plain", "received / client", "client time", "server time", "server vs plain FedAvg"];

  const { train, test } = loadMnist();
  const trainSet = { x: train.x, labels: labelsOf(train.y) };
  const testSet = { x: test.x, labels: labelsOf(test.y) };
  const options = { clients: 20, rounds: 5, alpha: 10, local: { epochs: 1, batchSize: 16, lr: 0.2 } };
  const plainSim = await prepareSimulation(model, trainSet, testSet, options);
  const plain = await runSimulation(plainSim, fedAvg, "none");
  await plainSim.classifier.release();
  let clipped = 0;
  const secureSim = await prepareSimulation(model, trainSet, testSet, { ...options, secureAggregation: { onAggregation: (r) => (clipped += r.clipped) } });
  const secure = await runSimulation(secureSim, secureAggregator("fedavg", secureSim.options.secureAggregation), "none");
  await secureSim.classifier.release();
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  return [
    `secure aggregation (Bonawitz et al. 2017) — updates of ${d + 1} words (MNIST MLP + weight), payload bytes without transport framing; plain FedAvg sends ${kib(4 * d)} a client`,
    ...table(head, rows, [0, 1, 2, 3, 4, 5, 6, 7, 8]),
    `FedAvg on MNIST, 20 clients, 5 rounds, same seed: ${pct(plain.accuracy)} in the clear, ${pct(secure.accuracy)} under secure aggregation (per round ${plain.rounds
      .map((r, i) => `${pct(r.accuracy)}/${pct(secure.rounds[i].accuracy)}`)
      .join(" ")}); fixed point for 20 clients: ${fixedPointFor(20, 1).scale} units per 1.0; ${clipped} coordinates clipped at 1`,
    `  load average ${loadavg()[0].toFixed(2)}`,
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchSecAgg((l) => console.error(l))) console.log(line);
